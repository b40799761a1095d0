"""归档配置 rules, pure (issue 20, item 6; ADR 0017): one test per rule, and the 事项目录 spreadsheet read with Chinese errors."""

from __future__ import annotations

import io

import pytest

from earchive.domain.archiving_config import evaluate, parse_catalogue, parse_required, read_rows, required_text, same_config, task_config, with_retention
from earchive.errors import UsageError
from earchive.rules_zh import rule_text

DEPLOY = {"task_code": "#deployment", "version": 1, "retention_mismatch": "refuse", "unknown_task": "accept"}


def case(**changes) -> dict:
    c = {"project_id": "P1", "task_code": "430000000404", "task_name": "药品零售企业许可", "task_type": "行政权力事项",
         "retention_period": "D30", **changes}
    return {"case": c, "materials": [
        {"seq": 1, "category": "申报文件", "file_code": "A1", "title": "药品零售企业许可申请表"},
        {"seq": 2, "category": "结果文件", "file_code": "C1", "title": "准予许可决定书"},
    ]}


def task(**changes) -> dict:
    return {**task_config({"task_code": "430000000404", "task_name": "药品零售企业许可", "task_type": "行政权力", "retention_period": "30年",
                           "required": "申报:A1；结果:准予许可决定书", **changes}), "version": 3}


def test_a_case_that_meets_its_configuration_passes_and_records_the_versions():
    verdict = evaluate(case(), task(), DEPLOY)
    assert verdict.problems == [] and verdict.notes == []
    assert verdict.record() == {"deployment_version": 1, "task_version": 3, "notes": []}


def test_rule_missing_required_material():
    verdict = evaluate(case(), task(required="申报:A1；过程:审查意见表；结果:C9"), DEPLOY)
    assert [p.rule for p in verdict.problems] == ["CONFIG-MATERIAL-REQUIRED"] * 2
    assert "过程文件 「审查意见表」" in verdict.problems[0].message and "C9" in verdict.problems[1].message


def test_rule_task_type_differs():
    verdict = evaluate(case(task_type="公共服务事项"), task(), DEPLOY)
    assert [p.rule for p in verdict.problems] == ["CONFIG-TASK-TYPE"]


def test_rule_retention_refused():
    verdict = evaluate(case(retention_period="D10"), task(), DEPLOY)
    assert [p.rule for p in verdict.problems] == ["CONFIG-RETENTION"] and "D30" in verdict.problems[0].message


def test_rule_retention_applied_by_the_deployment_or_by_the_task():
    for deploy, t in (({**DEPLOY, "retention_mismatch": "apply"}, task()), (DEPLOY, task(retention_mismatch="采用目录"))):
        verdict = evaluate(case(retention_period="D10"), t, deploy)
        assert verdict.problems == [] and verdict.retention_period == "D30"
        assert verdict.notes[0]["rule"] == "CONFIG-RETENTION-APPLIED" and "D10" in verdict.notes[0]["message"]
    data = with_retention(case(retention_period="D10"), "D30")
    assert data["case"]["retention_period"] == "D30" and case()["case"] is not data["case"]


def test_rule_unknown_task_refused_or_accepted_with_a_note():
    assert [p.rule for p in evaluate(case(), None, {**DEPLOY, "unknown_task": "refuse"}).problems] == ["CONFIG-TASK-UNKNOWN"]
    accepted = evaluate(case(), None, DEPLOY)
    assert accepted.problems == [] and accepted.notes[0]["rule"] == "CONFIG-TASK-UNKNOWN-ACCEPTED"
    retired = evaluate(case(), {**task(), "status": "RETIRED"}, {**DEPLOY, "unknown_task": "refuse"})
    assert "已停用" in retired.problems[0].message


def test_every_config_rule_speaks_chinese():
    for code in ("CONFIG-TASK-UNKNOWN", "CONFIG-TASK-UNKNOWN-ACCEPTED", "CONFIG-TASK-TYPE", "CONFIG-MATERIAL-REQUIRED", "CONFIG-RETENTION",
                 "CONFIG-RETENTION-APPLIED"):
        assert "归档配置" in rule_text(code)[0] or "事项" in rule_text(code)[0]


def test_required_materials_read_and_written_back():
    required = parse_required("申报:A1；申报文件: 申请人 身份证明\n结果:C1;过程:收件凭证")
    assert required == [{"category": "申报文件", "code": "A1"}, {"category": "申报文件", "title": "申请人身份证明"},
                        {"category": "结果文件", "code": "C1"}, {"category": "过程文件", "title": "收件凭证"}]
    assert parse_required(required_text(required)) == required
    with pytest.raises(UsageError, match="类别:题名"):
        parse_required("申请表")
    assert same_config(task(), task()) and not same_config(task(), task(retention_period="Y"))


CSV = ("事项编码,事项名称,事项类型,保管期限,接收单位,必备材料,保管期限不符时\n"
       "430000000404,药品零售企业许可,行政权力事项,D30,430102001,申报:A1；结果:C1,\n"
       "430000000505,社会保障卡申领,公共服务,10年,,,采用目录\n")


def test_the_catalogue_spreadsheet_as_csv_and_xlsx():
    from openpyxl import Workbook

    configs, errors = parse_catalogue(read_rows("事项目录.csv", CSV.encode("utf-8-sig")))
    assert errors == [] and [c["task_code"] for c in configs] == ["430000000404", "430000000505"]
    assert configs[1]["task_type"] == "公共服务事项" and configs[1]["retention_period"] == "D10" and configs[1]["retention_mismatch"] == "apply"
    wb = Workbook()
    for row in CSV.strip().split("\n"):
        wb.active.append(row.split(","))
    out = io.BytesIO()
    wb.save(out)
    assert parse_catalogue(read_rows("事项目录.xlsx", out.getvalue()))[0] == configs


def test_bad_rows_are_named_by_row_and_column_in_chinese():
    bad = CSV + "4300/1,,行政,D20,,申请表,\n430000000404,重复,行政权力事项,Y,,,\n"
    configs, errors = parse_catalogue(read_rows("事项目录.csv", bad.encode("gb18030")))
    assert len(configs) == 2
    assert any(e.startswith("第 4 行「事项编码」列") for e in errors)
    assert any(e.startswith("第 4 行「事项名称」列") for e in errors)
    assert any(e.startswith("第 4 行「事项类型」列") for e in errors)
    assert any(e.startswith("第 4 行「保管期限」列") for e in errors)
    assert any(e.startswith("第 4 行「必备材料」列") for e in errors)
    assert any(e.startswith("第 5 行「事项编码」列") and "第 2 行" in e for e in errors)
    with pytest.raises(UsageError, match="事项编码"):
        read_rows("x.csv", "名称\n甲\n".encode())
