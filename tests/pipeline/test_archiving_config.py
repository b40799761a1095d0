"""归档配置 through the real archive state machine (issue 20, item 6; ADR 0017): one test per rule.

Each case goes through the ASL on the local cloud; a broken rule ends in Reject with its code and
Chinese advice, a note ends in an archived case that says what was applied and against which version.
A deployment with no configuration archives as before (the first test runs before anything is configured).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earchive.cli_config import summary
from earchive.client import TransferService
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud

ADMIN = "周丽（档案管理员）"


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


@pytest.fixture(scope="module")
def aws(cloud):
    return TransferService.from_cloud(cloud).aws


def bundle(tmp_path: Path, seed: int, **case: str) -> Path:
    """A sample case (materials A1 申请表, A2 身份证明, B1 收件凭证, C1 决定书, C2 证照) with its case.json fields changed."""
    folder = sample_case(tmp_path / f"cases{seed}", seed=seed).folder
    data = json.loads((folder / "case.json").read_text("utf-8"))
    data["case"].update({"task_type": "行政权力事项", **case})
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return zip_case(folder, tmp_path / f"{seed}.zip")


def run_one(cloud: LocalCloud, path: Path) -> tuple[dict, dict]:
    up = cloud.upload(path)
    (result,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values()
    return up, result


def notice(cloud: LocalCloud, up: dict, suffix: str) -> dict:
    return json.loads(cloud.client("s3").get_object(Bucket=up["bucket"], Key=f"{up['key']}.{suffix}.json")["Body"].read())


def rejected_by(cloud: LocalCloud, path: Path) -> list[str]:
    up, result = run_one(cloud, path)
    assert result["status"] == "FAILED" and result["error"] == "Rejected", result
    report = notice(cloud, up, "rejected")
    assert report["stage"] == "organise"
    return [p["rule"] for p in report["problems"]]


def archived(cloud: LocalCloud, aws, path: Path) -> tuple[dict, dict]:
    up, result = run_one(cloud, path)
    assert result["status"] == "SUCCEEDED", result.get("cause")
    out = json.loads(result["output"])
    assert out["status"] == "ARCHIVED"
    return aws.catalogue.get(out["record_code"]), notice(cloud, up, "archived")


def configure(aws, code: str, **values: str) -> dict:
    return aws.archiving_config.save({"task_code": code, "task_name": "测试事项", "task_type": "行政权力事项", "retention_period": "D30",
                                      "required": "申报:A1；结果:C1", **values}, actor=ADMIN, reason="按省事项目录配置")


def test_without_any_configuration_the_pipeline_works_as_before(cloud, aws, tmp_path):
    assert "未配置归档配置" in summary(aws.archiving_config)
    item, receipt = archived(cloud, aws, bundle(tmp_path, 2001, retention_period="D10"))
    assert "config" not in item and item["retention_period"] == "D10" and "notes" not in receipt


def test_rule_missing_required_material(cloud, aws, tmp_path):
    configure(aws, "4399000101", required="申报:A1；过程:现场勘验记录；结果:C1")
    assert rejected_by(cloud, bundle(tmp_path, 2002, task_code="4399000101", retention_period="D30")) == ["CONFIG-MATERIAL-REQUIRED"]


def test_rule_task_type_differs(cloud, aws, tmp_path):
    configure(aws, "4399000102", task_type="公共服务事项")
    assert rejected_by(cloud, bundle(tmp_path, 2003, task_code="4399000102", task_type="行政权力事项", retention_period="D30")) == \
        ["CONFIG-TASK-TYPE"]


def test_rule_retention_differs_refused(cloud, aws, tmp_path):
    configure(aws, "4399000103", retention_mismatch="refuse")
    assert rejected_by(cloud, bundle(tmp_path, 2004, task_code="4399000103", task_type="行政权力事项", retention_period="D10")) == \
        ["CONFIG-RETENTION"]


def test_rule_retention_differs_schedule_applied_and_noted(cloud, aws, tmp_path):
    config = configure(aws, "4399000104", retention_mismatch="apply")
    item, receipt = archived(cloud, aws, bundle(tmp_path, 2005, task_code="4399000104", task_type="行政权力事项", retention_period="D10"))
    assert item["retention_period"] == "D30" and item["platform_retention_period"] == "D10"
    assert "-D30-" in item["record_code"], "the package is named and described with the schedule's period"
    assert item["check_passed"] is True
    assert int(item["config"]["task_version"]) == config["version"]
    assert item["config"]["notes"][0]["rule"] == "CONFIG-RETENTION-APPLIED"
    assert receipt["retention_period"] == "D30" and "已按配置的 D30 归档" in receipt["notes"][0]
    later = configure(aws, "4399000104", retention_period="Y", retention_mismatch="apply")
    assert later["version"] == config["version"] + 1
    assert int(aws.catalogue.get(item["record_code"])["config"]["task_version"]) == config["version"], "a later change rewrites no history"


def test_rule_unknown_task_refused(cloud, aws, tmp_path):
    aws.archiving_config.set_modes({"unknown_task": "refuse"}, actor=ADMIN, reason="只归档事项目录中的事项")
    try:
        assert rejected_by(cloud, bundle(tmp_path, 2006, task_code="4399000999")) == ["CONFIG-TASK-UNKNOWN"]
    finally:
        aws.archiving_config.set_modes({"unknown_task": "accept"}, actor=ADMIN, reason="事项目录尚未导全，暂时接收")


def test_rule_unknown_task_accepted_with_a_note(cloud, aws, tmp_path):
    item, receipt = archived(cloud, aws, bundle(tmp_path, 2007, task_code="4399000998", retention_period="Y"))
    assert item["retention_period"] == "Y" and "task_version" not in item["config"]
    assert item["config"]["notes"][0]["rule"] == "CONFIG-TASK-UNKNOWN-ACCEPTED"
    assert "不在归档配置中" in receipt["notes"][0]
