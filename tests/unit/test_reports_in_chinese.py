"""Everything a clerk reads is Chinese (issue 9, P8): check reports and rejection notices.

A window clerk or platform operator must learn from the top of the page what failed and what to
do, in Chinese and in Beijing time, with no internal paths, no ``None`` and no web assets; a
duplicate upload must not be told to fix itself.
"""

from __future__ import annotations

import html
import json
import re
import zipfile

import pytest

from earchive import rules_zh
from earchive.check import check_package
from earchive.check.report import detail_zh, to_html, to_json
from earchive.errors import Problem
from earchive.pipeline.archive.common import rejected
from earchive.pipeline.archive.reject import reasons, rejection_html, system_failure
from earchive.zh import beijing
from tests.unit.test_hostile_packages import first_member, rewrite

UTC_STAMP = re.compile(r"\+00:00|\d{2}:\d{2}:\d{2}(\.\d+)?Z|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
AT = "2026-11-25T09:44:36+00:00"
UPLOAD = {"bucket": "intake-bucket", "key": "uploads/430102/case-430102001.zip", "version": "v1"}


def readable(page: str) -> None:
    """What every page a person reads must be: no None, no UTC stamp, no internal location, no web asset."""
    assert "None" not in page and "(stream)" not in page
    assert not UTC_STAMP.search(page), UTC_STAMP.search(page)
    assert "http://" not in page and "https://" not in page and "s3://" not in page and "/tmp/" not in page


def test_a_failed_check_names_its_failures_at_the_top_in_chinese(package_copy):
    name = first_member(package_copy, "申报文件/", ".pdf")
    with zipfile.ZipFile(package_copy) as zf:
        data = bytearray(zf.read(name))
    data[200] ^= 0xFF
    rewrite(package_copy, replace={name: bytes(data)})
    report = check_package(package_copy)
    page = to_html(report)
    readable(page)
    table = page.index("<h2>检测明细</h2>")
    assert "检测不合格：2 项不通过" in page[:table]
    for r in report.failures:
        top = page[:table]
        assert r.id in top and r.name in top and html.escape(detail_zh(r)) in top, r.id
    for r in report.results:
        assert html.escape(detail_zh(r)) in page, r.id
        assert re.search(r"[\u4e00-\u9fff]", detail_zh(r)), r.id
    assert f"{beijing(report.checked_at)}（北京时间）" in page
    assert html.escape(name) in detail_zh(next(r for r in report.results if r.id == "GD-1-10"))


def test_a_passed_check_says_so_and_its_json_keeps_every_key(packed):
    _, good = packed
    report = check_package(good.path)
    page = to_html(report)
    readable(page)
    assert "检测合格" in page and "GD-1-1-2" in page
    data = json.loads(to_json(report))
    assert set(report.as_dict()) <= set(data), "no key of the machine-readable report may go"
    assert data["checked_at"] == report.checked_at and data["checked_at_beijing"] == beijing(report.checked_at)
    manual = [r.id for r in report.results if r.status == "manual"]
    assert manual, "the development scanner leaves the virus scan to a person"
    assert data["failed_tests"] == [] and data["verdict_zh"] == f"检测合格（{len(manual)} 项须人工核查）", "a manual result is never a plain pass"
    for row, r in zip(data["results"], report.results):
        assert set(r.as_dict()) <= set(row) and row["detail"] == r.detail
        assert row["detail_zh"] == detail_zh(r) and row["checked_at_beijing"] == beijing(r.checked_at)


def notice(state: dict) -> tuple[dict, str]:
    """The report dict ``reject.run`` builds for ``state``, and its HTML."""
    stage, problems = reasons(state)  # type: ignore[arg-type]
    status = "FAILED" if system_failure(state) else "REJECTED"  # type: ignore[arg-type]
    report = {"upload": UPLOAD, "status": status, "stage": stage, "rejected_at": AT, "record_code": state.get("record_code"),
              "project_id": (state.get("case") or {}).get("project_id") or next((p.get("case") for p in problems if p.get("case")), None),
              "problems": problems, "check_report": (state.get("check") or {}).get("report"), "retryable": status == "FAILED"}
    return report, rejection_html(report)


def caught(exc: Exception) -> dict:
    """A state as the ASL's Catch hands it to Reject."""
    return {"error": {"Error": type(exc).__name__, "Cause": json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})}}


def top_of(page: str) -> str:
    return page[:page.index("<h2>问题明细</h2>")]


def common(report: dict, page: str) -> None:
    readable(page)
    assert "2026-11-25 17:44:36（北京时间）" in page
    for p in report["problems"]:
        zh, advice = rules_zh.rule_text(p["rule"])
        assert html.escape(zh) in page and html.escape(advice) in page, p["rule"]
        assert str(p["rule"]) in top_of(page), f"{p['rule']} is not named at the top"
    assert "办件编号：</td><td>None" not in page


def test_a_collect_rejection_says_what_to_fix():
    state = caught(rejected("collect", [
        Problem("MATERIAL-SIZE", "10 bytes in the bundle, 12 declared (truncated or damaged)", "P-1", "申报文件/001-申请表.pdf"),
        Problem("BUNDLE-LAYOUT", "3 bytes before the first entry", None, None)]))
    report, page = notice(state)
    common(report, page)
    assert "办件归档拒收通知" in page and "环节：</td><td>收集" in page and "办件编号：</td><td>P-1" in page
    assert "申报文件/001-申请表.pdf" in page and "整个压缩包" in page
    assert "重新上传" in top_of(page)


@pytest.mark.parametrize(("rule", "says"), [("CASE-ALREADY-ARCHIVED", "无需任何操作"), ("CASE-IN-PROGRESS", "请等待")])
def test_a_duplicate_upload_is_told_what_is_true_not_to_fix_it(rule, says):
    state = caught(rejected("organise", [Problem(rule, "430102-0102-1-2026-Y-000001 is ARCHIVED already", "P-2")]))
    report, page = notice(state)
    common(report, page)
    assert "修正" not in page and "重新上传整个办件包" not in page
    assert says in top_of(page) and "重复上传" in page and "环节：</td><td>整理" in page


def test_a_system_failure_is_not_the_platforms_fault_and_is_retried():
    report, page = notice(caught(RuntimeError("disk full at /tmp/work/x.zip")))
    common(report, page)
    assert report["status"] == "FAILED" and report["problems"][0]["rule"] == "RuntimeError"
    top = top_of(page)
    assert "可重试" in top and "无需重新上传" in top and "不是上传内容的问题" in top and "修正" not in page
    assert "系统内部错误（RuntimeError）" in page and "办件编号：</td><td>—" in page and "x.zip" in page


def test_a_check_rejection_names_the_failed_tests_and_the_full_report():
    key = "reports/430102-0102-1-2026-Y-000001/20261125T094436Z-ab12cd34ef56-archiving.json"
    state = {"case": {"project_id": "P-3"}, "record_code": "430102-0102-1-2026-Y-000001",
             "check": {"passed": False, "report": key, "failed": [
                 {"id": "GD-1-10", "name": "内容数字摘要一致性检测", "detail": "申报文件/a.pdf: SM3 differs", "objects": ["申报文件/a.pdf"]},
                 {"id": "GD-4-3", "name": "载体中多余文件检测", "detail": "extra.txt: not declared", "objects": []}]}}
    report, page = notice(state)
    common(report, page)
    top = top_of(page)
    assert "GD-1-10" in top and "内容数字摘要一致性检测" in top and "GD-4-3" in top and "载体中多余文件检测" in top
    assert "环节：</td><td>归档检测" in page and "办件编号：</td><td>P-3" in page and f"完整检测报告：</td><td>报告存储桶中的 {key}" in page
    assert "整个压缩包" in page and "申报文件/a.pdf" in page


def test_describe_is_one_chinese_line_for_the_command_line():
    line = rules_zh.describe({"rule": "MATERIAL-UNDECLARED", "file": "extra.doc", "message": "file in the bundle that case.json does not declare"})
    assert "\n" not in line and line.startswith("MATERIAL-UNDECLARED（extra.doc）：") and "未声明" in line
    assert "整个压缩包" in rules_zh.describe({"rule": "BUNDLE-NOT-ZIP", "file": "(stream)"})
