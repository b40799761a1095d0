"""Every upload ends in a verdict somebody can read (review F5, F18): through the real archive state machine.

Whatever fails — a bug, a TSA outage, an impossible date — the upload gets a report beside it
(rejected by rule, or failed by the system and retryable), the claim is left so that a re-run can
finish the job, and transient outages are retried with back-off. Keys with spaces, '+', '%' and
Chinese characters work whether the event carries them URL-encoded or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from earchive.crypto.signers import make_tsa
from earchive.errors import reject
from earchive.pipeline.archive.common import claim_key
from earchive.pipeline.handler import make_handler
from earchive.pipeline.registry import STEPS, Step
from earchive.pipeline.runtime import Runtime
from earchive_devtools.localcloud import LocalCloud, object_created
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def bundle(tmp_path: Path, seed: int, edit=None) -> Path:
    case = sample_case(tmp_path / f"cases{seed}", seed=seed)
    if edit:
        data = json.loads((case.folder / "case.json").read_text("utf-8"))
        edit(data)
        (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return zip_case(case.folder, tmp_path / f"{case.project_id}.zip")


def run_one(cloud: LocalCloud, path: Path, key: str | None = None) -> tuple[dict, dict]:
    up = cloud.upload(path, key)
    (result,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values()
    return up, result


def body(cloud: LocalCloud, up: dict, suffix: str) -> dict:
    return json.loads(cloud.client("s3").get_object(Bucket=up["bucket"], Key=f"{up['key']}.{suffix}.json")["Body"].read())


def test_an_impossible_date_is_a_rejection_by_rule_not_a_silent_failure(cloud, tmp_path):
    """2026-02-30 passes the schema's pattern; it used to FAIL the execution with a ValueError and no report."""
    def impossible(data):
        data["materials"][0]["created"] = "2026-02-30T10:00:00+08:00"

    up, result = run_one(cloud, bundle(tmp_path, 901, impossible))
    assert result["status"] == "FAILED" and result["error"] == "Rejected"
    report = body(cloud, up, "rejected")
    assert report["problems"][0]["rule"] == "CASE-JSON-SCHEMA" and "materials/0/created" in report["problems"][0]["message"]
    assert Runtime.from_env().aws.catalogue.get(claim_key(up))["status"] == "DONE"


def test_a_bug_ends_in_a_failed_report_and_a_rerun_finishes_the_job(cloud, tmp_path):
    def bug(state, rt):
        raise KeyError("a bug in pack")

    cloud.deploy("PackFunction", make_handler("pack", Step(bug)))
    try:
        up, result = run_one(cloud, bundle(tmp_path, 902))
    finally:
        cloud.undeploy("PackFunction")
    assert result["status"] == "FAILED" and result["error"] == "SystemFailure"
    report = body(cloud, up, "failed")
    assert report["status"] == "FAILED" and report["retryable"] is True and report["problems"][0]["rule"] == "KeyError"
    html = cloud.client("s3").get_object(Bucket=up["bucket"], Key=f"{up['key']}.failed.html")["Body"].read().decode()
    assert "可重试" in html and "无需重新上传" in html
    rt = Runtime.from_env()
    assert rt.aws.catalogue.get(claim_key(up))["status"] == "FAILED", "the claim stays open for a re-run"
    tags = {t["Key"]: t["Value"] for t in cloud.client("s3").get_object_tagging(
        Bucket=up["bucket"], Key=up["key"], VersionId=up["version"])["TagSet"]}
    assert tags["earchive-status"] == "failed"
    (again,) = cloud.wait([cloud.start_direct(up, attempt=2)]).values()
    assert again["status"] == "SUCCEEDED", again.get("cause")
    assert json.loads(again["output"])["status"] == "ARCHIVED"


class FlakyTSA:
    """A TSA that does not answer the first ``failures`` times (a network blip, a restart)."""

    def __init__(self, failures: int):
        self.real, self.failures = make_tsa("local"), failures
        self.description = self.real.description

    def request(self, query: bytes) -> bytes:
        if self.failures:
            self.failures -= 1
            raise reject("SEAL-TSA", "https://tsa.example did not answer: timed out")
        return self.real.request(query)


@pytest.mark.parametrize(("failures", "verdict"), [(2, "ARCHIVED"), (99, "SystemFailure")])
def test_a_tsa_outage_is_retried_with_back_off_and_a_long_one_is_a_retryable_failure(cloud, tmp_path, failures, verdict):
    tsa = FlakyTSA(failures)

    def runtime() -> Runtime:
        rt = Runtime.from_env()
        rt.__dict__["tsa"] = tsa
        return rt

    cloud.deploy("SealFunction", make_handler("seal", STEPS["seal"], runtime=runtime))
    try:
        up, result = run_one(cloud, bundle(tmp_path, 903 + failures))
    finally:
        cloud.undeploy("SealFunction")
    if verdict == "ARCHIVED":
        assert result["status"] == "SUCCEEDED" and tsa.failures == 0
    else:
        assert result["error"] == "SystemFailure"
        assert body(cloud, up, "failed")["problems"][0]["rule"] == "TransientError"


@pytest.mark.parametrize("encode", [False, True])
def test_keys_with_spaces_plus_percent_and_chinese_work_encoded_or_not(cloud, tmp_path, encode):
    key = f"湖南 省/办件 a+b%2B {int(encode)}.zip"
    path = bundle(tmp_path, 910 + int(encode))
    up = cloud.upload(path, key)
    event = object_created({**up, "key": quote_plus(key) if encode else key})
    arn = cloud.client("stepfunctions").start_execution(stateMachineArn=cloud.state_machine_arn, name=f"keys-{int(encode)}",
                                                        input=json.dumps(event, ensure_ascii=False))["executionArn"]
    (result,) = cloud.wait([arn]).values()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert json.loads(result["output"])["upload"]["key"] == key
