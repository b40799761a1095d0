"""Step Functions' 256 KiB limit on the local cloud, as AWS applies it (issue 22, F7).

The limit is checked by the local cloud (``earchive_devtools.localcloud._payload_limits``): a state input or output, a task
result or the results a Map collects over 262,144 bytes of UTF-8 JSON fail the execution with States.DataLimitExceeded, which
no Retry or Catch on States.ALL takes. The transfer machine's Distributed Map therefore writes its children's results to S3
(ResultWriter): the machine as it was before (no ResultWriter, children returning what ReceiveCheck returned) fails here with
1,500 packages, the machine as it is reaches the institution's decision.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from earchive_devtools.localcloud import PAYLOAD_LIMIT, ROLE, LocalCloud, payload_size

pytestmark = pytest.mark.slow  # the local cloud, and a Distributed Map of 1,100 items


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def machine(cloud: LocalCloud, definition: dict) -> str:
    sfn = cloud.client("stepfunctions")
    return sfn.create_state_machine(name=f"limits-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]


def run(cloud: LocalCloud, arn: str, payload: dict, timeout: float = 120) -> dict:
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(payload, ensure_ascii=False))["executionArn"]
    return cloud.wait([execution], timeout=timeout)[execution]


def test_a_state_output_over_256_kib_fails_at_the_limit_counted_in_utf8(cloud):
    pad = {"Type": "Pass", "Parameters": {"a.$": "$.a", "b.$": "$.a", "c.$": "$.c"}, "End": True}  # doubles $.a
    arn = machine(cloud, {"StartAt": "Double", "States": {"Double": pad}})
    a = "档" * ((PAYLOAD_LIMIT // 2 - 100) // 3)  # 3 bytes each in UTF-8 (12 as moto counted them, escaped: \\u6863)
    c = "x" * (PAYLOAD_LIMIT - payload_size({"a": a, "b": a, "c": ""}))
    assert payload_size({"a": a, "b": a, "c": c}) == PAYLOAD_LIMIT
    ok = run(cloud, arn, {"a": a, "c": c})
    assert ok["status"] == "SUCCEEDED", ok.get("cause")
    assert payload_size(json.loads(ok["output"])) == PAYLOAD_LIMIT
    over = run(cloud, arn, {"a": a, "c": c + "x"})  # one byte more
    assert over["status"] == "FAILED" and over.get("error") == "States.DataLimitExceeded", over


def test_states_all_neither_retries_nor_catches_a_task_result_over_the_limit(cloud):
    calls = []

    def big(event, context):
        calls.append(1)
        return {"pad": "档" * 100_000}  # 300,000 bytes

    cloud.deploy("TransferCopyFunction", big)
    try:
        task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": cloud.name("TransferCopyFunction"), "Payload.$": "$"},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True}
        arn = machine(cloud, {"StartAt": "Big", "States": {"Big": task, "Caught": {"Type": "Succeed"}}})
        out = run(cloud, arn, {"batch_id": "B1"})
    finally:
        cloud.undeploy("TransferCopyFunction")
    assert out["status"] == "FAILED" and out.get("error") == "States.DataLimitExceeded", out
    assert len(calls) == 1, "States.ALL retried it"


def test_a_task_token_answered_with_more_than_256_kib_is_refused_and_the_task_keeps_waiting(cloud):
    from botocore.exceptions import ClientError

    tokens = []
    cloud.deploy("TransferAwaitDecisionFunction", lambda event, context: tokens.append(event["token"]) or {})
    try:
        task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": cloud.name("TransferAwaitDecisionFunction"), "Payload": {"token.$": "$$.Task.Token"}},
                "End": True}
        arn = machine(cloud, {"StartAt": "Wait", "States": {"Wait": task}})
        sfn = cloud.client("stepfunctions")
        execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input="{}")["executionArn"]
        deadline = time.monotonic() + 60
        while not tokens and time.monotonic() < deadline:
            time.sleep(0.1)
        returns = {f"430102-0102-2026-Y-{i:06d}": "申请表扫描件模糊，请重新扫描。" * 70 for i in range(100)}  # 100 reasons of 1,050 字
        with pytest.raises(ClientError) as refused:
            sfn.send_task_success(taskToken=tokens[0], output=json.dumps({"returns": returns}, ensure_ascii=False))
        assert refused.value.response["Error"]["Code"] == "InvalidOutput"
        assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING", "the task still waits for an answer"
        sfn.send_task_success(taskToken=tokens[0], output=json.dumps({"returns": dict(list(returns.items())[:10])}, ensure_ascii=False))
        assert cloud.wait([execution], timeout=60)[execution]["status"] == "SUCCEEDED"
    finally:
        cloud.undeploy("TransferAwaitDecisionFunction")


# -- the transfer machine's Distributed Map, its functions stood in for (their outputs as the real ones shape them)

PACKAGES = 1_500  # ~200 bytes a child result here (F7 counted ~250 with real ids): past 256 KiB together


def stand_ins(cloud: LocalCloud, batch_id: str, count: int) -> None:
    bucket = cloud.name("TransferBucket")
    attempt = f"arn:aws:states:us-east-1:123456789012:execution:{cloud.name('TransferStateMachine').split(':')[-1]}:{batch_id}-a1"

    def submit(event, context):
        items = [{"batch_id": batch_id, "package_id": f"430102-0102-2026-Y-{i:06d}-{uuid.uuid4().hex[:8]}", "attempt": attempt}
                 for i in range(count)]
        key = f"internal/batches/{batch_id}/items.json"
        cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
        return {"batch_id": batch_id, "count": count, "items": {"bucket": bucket, "key": key},
                "results": {"bucket": bucket, "prefix": f"internal/batches/{batch_id}/map-results"}}

    cloud.deploy("TransferSubmitFunction", submit)
    cloud.deploy("TransferCopyFunction", lambda item, context: item)
    cloud.deploy("TransferReceiveCheckFunction", lambda item, context: {**item, "passed": True})
    cloud.deploy("TransferAwaitDecisionFunction", lambda event, context: {"waiting": True})


def before_issue_22(definition: dict) -> dict:
    """The transfer machine as it was: no ResultWriter, and each child returning ReceiveCheck's output."""
    old = json.loads(json.dumps(definition))
    del old["States"]["CopyAndCheck"]["ResultWriter"]
    old["States"]["CopyAndCheck"]["ItemProcessor"]["States"]["ReceiveCheck"]["OutputPath"] = "$.Payload"
    return old


def until_waiting_or_ended(cloud: LocalCloud, execution: str, timeout: float = 240) -> dict:
    """The execution's end, or its history once it waits for the institution (AwaitDecision scheduled)."""
    sfn = cloud.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sfn.describe_execution(executionArn=execution)
        if d["status"] != "RUNNING":
            return d
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000, reverseOrder=True)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == "AwaitDecision" for e in events):
            sfn.stop_execution(executionArn=execution)
            return {**d, "status": "WAITING", "events": events}
        time.sleep(0.5)
    raise TimeoutError(execution)


def test_the_transfer_map_of_1500_packages_fails_without_result_writer_and_waits_for_the_decision_with_it(cloud):
    sfn = cloud.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=cloud.state_machines["TransferStateMachine"])["definition"])
    try:
        stand_ins(cloud, "B-OLD", PACKAGES)
        old = sfn.start_execution(stateMachineArn=machine(cloud, before_issue_22(definition)), name="B-OLD",
                                  input=json.dumps({"batch_id": "B-OLD", "actor": "李敏"}))
        failed = until_waiting_or_ended(cloud, old["executionArn"])
        assert failed["status"] == "FAILED" and failed.get("error") == "States.DataLimitExceeded", failed
        stand_ins(cloud, "B-NEW", PACKAGES)
        new = sfn.start_execution(stateMachineArn=cloud.state_machines["TransferStateMachine"], name="B-NEW",
                                  input=json.dumps({"batch_id": "B-NEW", "actor": "李敏"}))
        waiting = until_waiting_or_ended(cloud, new["executionArn"])
        assert waiting["status"] == "WAITING", (waiting.get("error"), waiting.get("cause"))
    finally:
        for logical in ("TransferSubmitFunction", "TransferCopyFunction", "TransferReceiveCheckFunction", "TransferAwaitDecisionFunction"):
            cloud.undeploy(logical)
    s3, bucket = cloud.client("s3"), cloud.name("TransferBucket")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="internal/batches/B-NEW/map-results/")
    (manifest,) = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("/manifest.json")]
    files = json.loads(s3.get_object(Bucket=bucket, Key=manifest)["Body"].read())["ResultFiles"]["SUCCEEDED"]
    results = [r for f in files for r in json.loads(s3.get_object(Bucket=bucket, Key=f["Key"])["Body"].read())]
    assert len(results) == PACKAGES and {r["Output"] for r in results} == {"{}"}, "each child's result is in S3, and is nothing"


# -- a 2,000-package batch through the transfer machine as deployed

BATCH = 2_000


def seed_archived(cloud: LocalCloud, count: int) -> None:
    """``count`` archived packages, catalogued as Store records them (as bench/bench_transfer.py seeds them). No bytes: the
    copy is stood in for below, and the size of a package changes nothing here; the number of Map children does."""
    import datetime as dt

    from earchive.domain.listing import indexed

    cat, bucket, now = cloud.catalogue(), cloud.name("ArchiveBucket"), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with cat.table.batch_writer() as writer:
        for i in range(count):
            code = f"430102-0102-2026-Y-{i:06d}"
            writer.put_item(Item=indexed({
                "package_id": code, "record_code": code, "project_id": f"P{i:06d}", "status": "ARCHIVED", "task_code": "T-0001",
                "task_name": "食品经营许可", "task_type": "许可", "archived_at": now,
                "archive": {"bucket": bucket, "key": f"packages/{code}.zip", "version_id": f"v{i}"},
                "package_sha256": f"{i:064x}", "package_sm3": f"{i:064x}", "package_size": 22, "package_version": 1,
                "retention_period": "Y", "total_number": 1, "region_code": "430102", "fonds_identifier": "0102"}))


_RUNTIME: list = []


def receive_check_stand_in(item, context):
    """Copy and ReceiveCheck in one, without the copy's bytes and the YJ tests (together ~5 packages/s here: 2,000 would take
    minutes): the record ReceiveCheck leaves and the output it gives. Copying and checking are proven by test_transfer.py."""
    from earchive.pipeline.runtime import Runtime

    if not _RUNTIME:
        _RUNTIME.append(Runtime.from_env())
    _RUNTIME[0].aws.transfers.set_package(item["batch_id"], item["package_id"], state="CHECKED",
                                          receipt={"passed": True, "failed": [], "report": "", "checked_at": "", "manual": []})
    return {**item, "passed": True}


def test_a_2000_package_batch_goes_through_the_transfer_machine_within_the_payload_limit(cloud, monkeypatch):
    import types

    import earchive.pipeline.transfer.submit as submit
    from earchive.client import TransferService
    from earchive.domain.transfer import Selection
    from earchive_devtools.institutions import register

    seed_archived(cloud, BATCH)
    svc = TransferService.from_cloud(cloud)
    register(svc, name="长沙市芙蓉区行政审批服务局")
    batch_id = svc.create(Selection(), institution="430102001", transferor="李敏")["batch_id"]
    # Submit as it is, but for its printed list and catalogue exports (a 2,000-row PDF and XLSX: minutes here, and nothing
    # they make enters the state); the signed list, the items and the state it returns are the real ones
    monkeypatch.setattr(submit, "render", lambda document: types.SimpleNamespace(pdf=b"%PDF-1.7", boxes=[], fields=[]))
    monkeypatch.setattr(submit, "certify", lambda pdf, *args, **kwargs: pdf)
    monkeypatch.setattr(submit, "catalogue_files", lambda document: [])
    cloud.deploy("TransferCopyFunction", lambda item, context: item)
    cloud.deploy("TransferReceiveCheckFunction", receive_check_stand_in)
    try:
        execution = svc.submit(batch_id, actor="李敏")
        svc.wait_for_decision(batch_id, timeout=600)  # the machine as deployed; Submit and AwaitDecision are the real ones
    finally:
        cloud.undeploy("TransferCopyFunction")
        cloud.undeploy("TransferReceiveCheckFunction")
    sfn = cloud.client("stepfunctions")
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    sizes = {e.get(k, {}).get("name"): payload_size(e[k].get("input", e[k].get("output", "")))
             for e in events for k in ("stateEnteredEventDetails", "stateExitedEventDetails") if k in e}
    assert {"Submit", "CopyAndCheck", "AwaitDecision"} <= set(sizes) and max(sizes.values()) < 4_096, sizes  # flat, whatever the count
    sfn.stop_execution(executionArn=execution)
    s3, bucket = cloud.client("s3"), cloud.name("TransferBucket")
    prefix = f"internal/batches/{batch_id}/map-results/"
    (manifest,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"] if o["Key"].endswith("manifest.json")]
    files = json.loads(s3.get_object(Bucket=bucket, Key=manifest)["Body"].read())["ResultFiles"]["SUCCEEDED"]
    assert sum(len(json.loads(s3.get_object(Bucket=bucket, Key=f["Key"])["Body"].read())) for f in files) == BATCH
    assert svc.transfers.count_checked(batch_id) == BATCH
