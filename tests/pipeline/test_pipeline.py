"""The serverless pipeline: the real template.yaml and archive.asl.json executing on moto."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from earchive.check import check_package
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


@pytest.fixture
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def bundle(tmp_path: Path, seed: int, **kw) -> Path:
    case = sample_case(tmp_path / "cases", seed=seed, **kw)
    return zip_case(case.folder, tmp_path / f"{case.project_id}.zip")


def run(cloud: LocalCloud, *paths: Path) -> list[dict]:
    for p in paths:
        cloud.upload(p)
    arns = cloud.dispatch(wait=0.5)
    return list(cloud.wait(arns, timeout=240).values())


def history_types(cloud: LocalCloud, arn: str) -> list[str]:
    return [e["type"] for e in cloud.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]]


def test_happy_path_archives_under_object_lock(cloud, tmp_path):
    (result,) = run(cloud, bundle(tmp_path, 101))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    out = json.loads(result["output"])
    code, loc = out["record_code"], out["archive"]
    item = cloud.catalogue().get(code)
    assert item["status"] == "ARCHIVED"
    assert item["archive"] == loc and loc["version_id"]
    assert item["package_sha256"] and item["check_passed"] is True
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    if item["retention_period"] == "Y":
        assert head.get("ObjectLockLegalHoldStatus") == "ON" and until.year >= dt.datetime.now().year + 99
    else:
        years = {"D10": 10, "D30": 30}[item["retention_period"]]
        assert until.year == int(item["year"]) + 1 + years
    # the stored package is a complete, sealed package that verifies offline
    local = tmp_path / Path(loc["key"]).name
    local.write_bytes(s3.get_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["Body"].read())
    assert check_package(local).passed
    # file mapping, both ways
    import boto3

    from earchive.aws.catalogue import FileMap

    fmap = FileMap(boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("FileMapTable")))
    entries = fmap.of_package(code)
    assert len(entries) == int(item["total_number"]) and all(e["s3_version"] == loc["version_id"] for e in entries)
    back = fmap.of_source(out["upload"]["bucket"], out["upload"]["key"], entries[0]["source_file"])
    assert back[0]["member"] == entries[0]["member"]
    # the upload stays where it was, tagged; the staging copies are gone; the report is written
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=out["upload"]["bucket"], Key=out["upload"]["key"])["TagSet"]}
    assert tags == {"earchive-status": "archived", "earchive-package": code}
    assert s3.list_objects_v2(Bucket=cloud.name("StagingBucket")).get("KeyCount", 0) == 0
    assert s3.head_object(Bucket=cloud.name("ReportsBucket"), Key=item["check_report"])["ContentLength"] > 0
    # every step is in the event log, and the chain is intact
    from earchive.aws.eventlog import EventLog

    log = EventLog(boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("EventLogTable")))
    actions = [e["action"] for e in sorted(log.entries(item["stream"]), key=lambda e: int(e["seq"]))]
    assert actions[-6:] == ["organise", "pack", "seal", "check", "register", "store"]
    assert log.verify(item["stream"]) == []


@pytest.mark.parametrize(("defect", "stage", "rule"), [
    ("digest", "pack", "MATERIAL-DIGEST"),
    ("missing-metadata", "collect", "CASE-JSON-SCHEMA"),
    ("undeclared", "collect", "MATERIAL-UNDECLARED"),
    ("eicar", "check", "GD-4-2"),
    ("bad-pdf", "check", "GD-3-4"),
])
def test_each_kind_of_rejection(cloud, tmp_path, defect, stage, rule):
    path = bundle(tmp_path, 110, defect=defect)
    before = path.read_bytes()
    (result,) = run(cloud, path)
    assert result["status"] == "FAILED" and result["error"] == "Rejected"
    s3 = cloud.client("s3")
    intake = cloud.name("IntakeBucket")
    report = json.loads(s3.get_object(Bucket=intake, Key=f"{path.name}.rejected.json")["Body"].read())
    assert report["stage"] == stage
    assert rule in [p["rule"] for p in report["problems"]]
    assert s3.head_object(Bucket=intake, Key=f"{path.name}.rejected.html")["ContentType"].startswith("text/html")
    assert s3.get_object(Bucket=intake, Key=path.name)["Body"].read() == before, "the upload stays, untouched"
    rejected = cloud.catalogue().by_status("REJECTED")
    assert len(rejected) == 1 and rule in [p["rule"] for p in rejected[0]["problems"]]
    assert not s3.list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix="packages/").get("Versions")


def test_case_outside_the_deployments_region_is_rejected(cloud, tmp_path):
    before = cloud.env.get("EARCHIVE_REGION_CODE")
    cloud.update_environment({"EARCHIVE_REGION_CODE": "440000"})  # a Guangdong archive receiving a Hunan case
    path = bundle(tmp_path, 115)
    try:
        (result,) = run(cloud, path)
    finally:
        cloud.update_environment({"EARCHIVE_REGION_CODE": before})
    assert result["error"] == "Rejected"
    report = json.loads(cloud.client("s3").get_object(Bucket=cloud.name("IntakeBucket"), Key=f"{path.name}.rejected.json")["Body"].read())
    assert report["stage"] == "collect" and report["problems"][0]["rule"] == "CASE-OUT-OF-SCOPE"


def test_not_a_zip_is_rejected_with_a_report(cloud, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    (result,) = run(cloud, junk)
    assert result["error"] == "Rejected"
    report = json.loads(cloud.client("s3").get_object(Bucket=cloud.name("IntakeBucket"), Key="junk.zip.rejected.json")["Body"].read())
    assert report["problems"][0]["rule"] == "BUNDLE-NOT-ZIP"


def test_duplicate_delivery_is_archived_once(cloud, tmp_path):
    path = bundle(tmp_path, 120)
    up = cloud.upload(path)
    cloud.deliver_again(up)  # the same event twice on the queue
    arns = cloud.dispatch(wait=0.5)
    assert len(arns) == 1, "same execution name: the second start is refused"
    cloud.wait(arns)
    # and a duplicate that does get its own execution (as EventBridge → SFN would on AWS) ends as AlreadyHandled
    second = cloud.start_direct(up, attempt=2)
    (done,) = cloud.wait([second]).values()
    assert done["status"] == "SUCCEEDED"
    assert "AlreadyHandled" in json.dumps(cloud.client("stepfunctions").get_execution_history(executionArn=second)["events"], default=str)
    versions = cloud.client("s3").list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix="packages/").get("Versions", [])
    assert len(versions) == 1
    assert len(cloud.catalogue().by_status("ARCHIVED")) == 1


def test_transient_error_is_retried(cloud, tmp_path):
    from earchive.pipeline.archive import seal
    from earchive.pipeline.handler import make_handler
    from earchive.pipeline.registry import Step

    calls = {"n": 0}

    def flaky(state, rt):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Sign")
        return seal.run(state, rt)

    cloud.deploy("SealFunction", make_handler("seal", Step(flaky)))
    try:
        (result,) = run(cloud, bundle(tmp_path, 130))
    finally:
        cloud.undeploy("SealFunction")
    assert result["status"] == "SUCCEEDED"
    assert calls["n"] == 2
    types = history_types(cloud, result["executionArn"])
    assert types.count("TaskFailed") == 1 and "ExecutionSucceeded" in types


def test_crash_between_steps_then_rerun_finishes(cloud, tmp_path):
    from earchive.pipeline.handler import make_handler
    from earchive.pipeline.registry import Step

    def crash(state, rt):
        raise RuntimeError("simulated crash of the register function")

    cloud.deploy("RegisterFunction", make_handler("register", Step(crash)))
    path = bundle(tmp_path, 140)
    try:
        (first,) = run(cloud, path)
    finally:
        cloud.undeploy("RegisterFunction")
    # since review F5 a crash is caught: the execution ends in SystemFailure with a retryable report beside the upload
    assert first["status"] == "FAILED" and first["error"] == "SystemFailure"
    report = json.loads(cloud.client("s3").get_object(Bucket=cloud.name("IntakeBucket"), Key=f"{path.name}.failed.json")["Body"].read())
    assert report["problems"][0]["rule"] == "RuntimeError" and report["retryable"] is True
    item = cloud.catalogue().by_status("CHECKED")
    assert len(item) == 1, "work so far is kept"
    up = item[0]["upload"]
    (second,) = cloud.wait([cloud.start_direct(up, attempt=2)]).values()
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert cloud.catalogue().get(item[0]["package_id"])["status"] == "ARCHIVED"


def test_a_rerun_after_a_crash_between_archived_and_closing_the_claim_ends_as_handled(cloud, tmp_path):
    """The item is ARCHIVED but the claim was never closed: a re-run closes it and ends AlreadyHandled, not failing at Seal."""
    from earchive.pipeline.archive import store
    from earchive.pipeline.archive.common import claim_key
    from earchive.pipeline.handler import make_handler
    from earchive.pipeline.registry import Step

    def crash_after_archived(state, rt):
        out = store.run(state, rt)
        rt.aws.catalogue.table.update_item(  # the claim as a crash before finish_upload leaves it
            Key={"package_id": claim_key(out["upload"])}, UpdateExpression="SET #st = :c REMOVE outcome",
            ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":c": "CLAIMED"})
        raise RuntimeError("simulated crash after ARCHIVED")

    cloud.deploy("StoreFunction", make_handler("store", Step(crash_after_archived)))
    path = bundle(tmp_path, 141)
    try:
        (first,) = run(cloud, path)
    finally:
        cloud.undeploy("StoreFunction")
    assert first["status"] == "FAILED"
    (item,) = [i for i in cloud.catalogue().by_status("ARCHIVED") if i["upload"]["key"] == path.name]
    up = item["upload"]
    assert cloud.catalogue().get(claim_key(up))["status"] != "DONE"
    (second,) = cloud.wait([cloud.start_direct(up, attempt=2)]).values()
    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert cloud.catalogue().get(claim_key(up))["status"] == "DONE" and cloud.catalogue().get(claim_key(up))["outcome"] == "ARCHIVED"
    after = cloud.catalogue().get(item["package_id"])
    assert after["status"] == "ARCHIVED" and after["archive"] == item["archive"], "nothing re-packed or re-stored"
    (third,) = cloud.wait([cloud.start_direct(up, attempt=3)]).values()
    assert third["status"] == "SUCCEEDED", "a finished claim is a duplicate delivery from now on"


def test_twenty_concurrent_uploads(cloud, tmp_path):
    paths = [bundle(tmp_path, 200 + i) for i in range(20)]
    threads = [threading.Thread(target=cloud.upload, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arns = cloud.dispatch(wait=1.0)
    assert len(arns) == 20
    results = cloud.wait(arns, timeout=600)
    failed = [r.get("cause", "")[:300] for r in results.values() if r["status"] != "SUCCEEDED"]
    assert not failed, failed
    archived = cloud.catalogue().by_status("ARCHIVED")
    assert len(archived) == 20
    codes = [i["package_id"] for i in archived]
    assert len(set(codes)) == 20, "no two cases share a 电子文件号"


def test_archived_package_cannot_be_deleted_or_overwritten(cloud, tmp_path):
    (result,) = run(cloud, bundle(tmp_path, 150))
    loc = json.loads(result["output"])["archive"]
    s3 = cloud.client("s3")
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    s3.put_object(Bucket=loc["bucket"], Key=loc["key"], Body=b"overwrite attempt", ChecksumAlgorithm="SHA256")
    original = s3.get_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["Body"].read()
    assert original[:2] == b"PK" and len(original) > 1000, "the sealed version is kept intact"
    s3.delete_object(Bucket=loc["bucket"], Key=loc["key"])  # only a delete marker
    assert s3.get_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["Body"].read() == original


def test_event_log_detects_an_edited_entry(cloud, tmp_path):
    import boto3

    from earchive.aws.eventlog import EventLog

    (result,) = run(cloud, bundle(tmp_path, 160))
    item = cloud.catalogue().get(json.loads(result["output"])["record_code"])
    stream, head = item["stream"], item["event_head"]
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("EventLogTable"))
    log = EventLog(table)
    assert log.verify(stream, head) == []
    last = int(head["seq"])
    saved = table.get_item(Key={"stream": stream, "seq": last})["Item"]
    table.delete_item(Key={"stream": stream, "seq": last})  # cut off the tail: only the anchor shows it
    assert any("truncated" in p for p in log.verify(stream, head))
    table.put_item(Item=saved)
    table.update_item(Key={"stream": stream, "seq": 3}, UpdateExpression="SET #r = :r",
                      ExpressionAttributeNames={"#r": "result"}, ExpressionAttributeValues={":r": "forged"})
    problems = log.verify(stream)
    assert any("entry 3" in p and "edited" in p for p in problems)
    table.delete_item(Key={"stream": stream, "seq": 4})
    assert any("missing" in p for p in log.verify(stream))


def test_an_archived_upload_gets_a_receipt_and_an_earlier_rejection_under_its_key_is_superseded(cloud, tmp_path):
    """P9: after a corrected upload under the same key is archived, the old 拒收通知 no longer reads as the verdict."""
    s3, intake = cloud.client("s3"), cloud.name("IntakeBucket")
    bad = bundle(tmp_path / "bad", 151, defect="truncated")
    (first,) = run(cloud, bad)
    assert first["status"] == "FAILED"
    key = bad.name
    assert json.loads(s3.get_object(Bucket=intake, Key=f"{key}.rejected.json")["Body"].read())["status"] == "REJECTED"
    good = bundle(tmp_path / "good", 151)
    assert good.name == key
    (second,) = run(cloud, good)
    assert second["status"] == "SUCCEEDED", second.get("cause")
    receipt = json.loads(s3.get_object(Bucket=intake, Key=f"{key}.archived.json")["Body"].read())
    assert receipt["status"] == "ARCHIVED" and receipt["record_code"] and "北京" not in receipt["archived_at_beijing"]
    assert "已归档" in s3.get_object(Bucket=intake, Key=f"{key}.archived.html")["Body"].read().decode("utf-8")
    notice = json.loads(s3.get_object(Bucket=intake, Key=f"{key}.rejected.json")["Body"].read())
    assert notice["status"] == "SUPERSEDED" and receipt["record_code"] in notice["note"]
    assert "此通知已失效" in s3.get_object(Bucket=intake, Key=f"{key}.rejected.html")["Body"].read().decode("utf-8")
    versions = s3.list_object_versions(Bucket=intake, Prefix=f"{key}.rejected.json")["Versions"]
    assert len(versions) == 2, "the rejection itself stays, as the earlier version"
