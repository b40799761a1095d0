"""Each archive state alone on moto: its run(state, rt) called directly, no state machine executing.

The tables and buckets come from template.yaml (LocalCloud provisions them);
the ASL is not run, so a failure here names the state that broke. What only
the real ASL proves (Catch/Retry, the Map, task tokens) is in tests/pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from earchive.errors import BundleRejected, DuplicateDelivery, TransientError
from earchive.pipeline import state as types
from earchive.pipeline.handler import make_handler
from earchive.pipeline.registry import STEPS, Step
from earchive.pipeline.runtime import Runtime
from earchive_devtools.localcloud import LocalCloud, object_created
from earchive_devtools.sample import sample_case, zip_case

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


@pytest.fixture
def rt(cloud) -> Runtime:
    return Runtime.from_env()


class Context:
    """A Lambda context, as Powertools reads it."""

    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn:aws:lambda:us-east-1:1:function:f", "r"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def upload(cloud: LocalCloud, tmp_path: Path, seed: int, **kw: Any) -> dict[str, Any]:
    case = sample_case(tmp_path / "cases", seed=seed, **kw)
    return cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))


def required_keys(td: type) -> set[str]:
    return set(td.__required_keys__)


def test_each_archive_state_alone_turns_its_input_into_its_typed_output(cloud, rt, tmp_path):
    """collect → … → store, each called directly; every output carries the keys its TypedDict requires."""
    up = upload(cloud, tmp_path, 501)
    state: Any = {"event": object_created(up), "execution": "arn:aws:states:local:execution:steps-test"}
    expected = {"collect": types.Collected, "organise": types.Organised, "pack": types.Packed, "seal": types.Sealed,
                "check": types.Checked, "register": types.Registered, "store": types.Stored}
    for name, typed in expected.items():
        state = STEPS[name].run(state, rt)
        missing = required_keys(typed) - set(state)
        assert not missing, f"{name} output lacks {missing}"
    assert state["status"] == "ARCHIVED"
    assert rt.aws.catalogue.get(state["record_code"])["status"] == "ARCHIVED"
    assert rt.aws.events.verify(state["stream"]) == []


def test_collect_alone_refuses_a_second_execution_of_the_same_upload(cloud, rt, tmp_path):
    up = upload(cloud, tmp_path, 502)
    STEPS["collect"].run({"event": object_created(up), "execution": "exec-1"}, rt)
    with pytest.raises(DuplicateDelivery, match="is handled by exec-1"):
        STEPS["collect"].run({"event": object_created(up), "execution": "exec-2"}, rt)


def test_collect_alone_rejects_a_bundle_that_breaks_a_rule_naming_the_rule(cloud, rt, tmp_path):
    up = upload(cloud, tmp_path, 503, defect="undeclared")
    with pytest.raises(BundleRejected) as caught:
        STEPS["collect"].run({"event": object_created(up), "execution": "exec-3"}, rt)
    report = json.loads(str(caught.value))
    assert report["stage"] == "collect" and report["problems"][0]["rule"] == "MATERIAL-UNDECLARED"


def test_reject_alone_writes_the_report_beside_the_upload(cloud, rt, tmp_path):
    up = upload(cloud, tmp_path, 504)
    error = {"Error": "BundleRejected", "Cause": json.dumps({"errorMessage": json.dumps(
        {"stage": "collect", "problems": [{"rule": "CASE-JSON-SCHEMA", "message": "x", "case": "P1", "file": "case.json"}]})})}
    out = STEPS["reject"].run({**object_created(up), "error": error}, rt)  # type: ignore[typeddict-item]
    assert out["status"] == "REJECTED" and out["rejection"]["problems"][0]["rule"] == "CASE-JSON-SCHEMA"
    body = rt.aws.s3.get_bytes(up["bucket"], f"{up['key']}.rejected.json")
    assert body is not None and json.loads(body)["stage"] == "collect"


class ThrottledObjects:
    """An S3 adapter whose writes are throttled: the handler must turn that into TransientError (retried by the ASL)."""

    def __init__(self, real: Any):
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put(self, *args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}}, "PutObject")


def test_a_throttled_write_becomes_transient_error_through_the_handler(cloud, tmp_path):
    """A faulty adapter is passed in (no registry patched): the handler classifies the AWS error for the ASL's Retry."""
    def faulty_runtime() -> Runtime:
        rt = Runtime.from_env()
        rt.aws.s3 = ThrottledObjects(rt.aws.s3)  # type: ignore[assignment]
        return rt

    up = upload(cloud, tmp_path, 505)
    handler = make_handler("reject", runtime=faulty_runtime)
    error = {"Error": "BundleRejected", "Cause": json.dumps({"errorMessage": json.dumps({"stage": "collect", "problems": []})})}
    with pytest.raises(TransientError, match="SlowDown"):
        handler({**object_created(up), "error": error}, Context())


def test_the_handler_runs_a_state_once_for_the_same_input(cloud):
    """Powertools Idempotency keyed by the state's key: a repeated invocation returns the saved result."""
    calls: list[str] = []

    def counting(state: Any, rt: Runtime) -> dict[str, Any]:
        calls.append(state["batch_id"])
        return {"batch_id": state["batch_id"], "n": len(calls)}

    handler = make_handler("transfer.submit", Step(counting, STEPS["transfer.submit"].idempotency_key))
    first = handler({"batch_id": "B1", "actor": "甲"}, Context())
    again = handler({"batch_id": "B1", "actor": "乙"}, Context())  # the key is [batch_id]: the same batch
    other = handler({"batch_id": "B2"}, Context())
    assert first == again == {"batch_id": "B1", "n": 1}
    assert other == {"batch_id": "B2", "n": 2}
    assert calls == ["B1", "B2"]


@pytest.mark.parametrize("machine", ["archive", "transfer"])
def test_every_state_has_a_sample_event_with_its_typed_input(machine):
    """events/<machine>/<state>.json: an input `sam local invoke -e` can take, with the keys the state reads."""
    inputs = {"collect": types.CollectInput, "organise": types.Collected, "pack": types.Organised, "seal": types.Packed,
              "check": types.Sealed, "register": types.Checked, "store": types.Registered, "reject": None,
              "transfer.submit": types.BatchRef, "transfer.copy": types.BatchItem, "transfer.receive_check": types.BatchItem,
              "transfer.await_decision": types.AwaitInput, "transfer.decide": types.Decision}
    for name, typed in inputs.items():
        if (machine == "transfer") != name.startswith("transfer."):
            continue
        path = EVENTS / machine / f"{name.split('.')[-1]}.json"
        assert path.exists(), f"no sample event {path.relative_to(EVENTS.parent)}"
        sample = json.loads(path.read_text("utf-8"))
        if typed is not None:
            assert required_keys(typed) <= set(sample), f"{path.name} lacks {required_keys(typed) - set(sample)}"
        else:
            assert "error" in sample or "check" in sample


def test_a_throttled_ssm_read_at_cold_start_stays_retryable(tmp_path):
    """The seal's certificate comes from SSM on a container's first invocation: a throttle there is retried, not fatal."""
    from botocore.exceptions import ParamValidationError

    from earchive.aws.clients import transient
    from earchive.aws.ssm import parameter_to_file

    class Throttled:
        def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetParameter")

    with pytest.raises(ClientError) as caught:
        parameter_to_file(Throttled(), f"/earchive/test/{tmp_path.name}/seal-chain")
    assert transient(caught.value)
    assert not transient(ParamValidationError(report="Invalid bucket name \"\""))  # a bad call never heals


def test_a_claim_whose_execution_step_functions_forgot_can_be_taken_over(cloud, rt, tmp_path):
    """F18: after 90 days DescribeExecution no longer knows a crashed run; the upload must not stay stuck for ever."""
    from earchive.pipeline.archive.common import claim_key

    up = upload(cloud, tmp_path, 506)
    sm = cloud.state_machine_arn.replace(":stateMachine:", ":execution:")
    rt.aws.catalogue.put_new({"package_id": claim_key(up), "execution": f"{sm}:crashed-long-ago", "status": "CLAIMED",
                              "stream": "upload#old", "claimed_at": "2026-01-01T00:00:00+00:00"})
    out = STEPS["collect"].run({"event": object_created(up), "execution": f"{sm}:rerun-a2"}, rt)
    assert out["execution"].endswith("rerun-a2")
    assert rt.aws.catalogue.get(claim_key(up))["execution"].endswith("rerun-a2")


def test_a_case_larger_than_the_working_space_is_packed_into_s3_not_refused(cloud, tmp_path, monkeypatch):
    """Review F5 made ENOSPC a rule (BUNDLE-LIMIT); ADR 0015 archives such a case: Pack writes straight into S3."""
    import shutil
    from collections import namedtuple

    up = upload(cloud, tmp_path, 507)
    rt = Runtime.from_env()
    state: Any = {"event": object_created(up), "execution": "exec-big"}
    state = STEPS["organise"].run(STEPS["collect"].run(state, rt), rt)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**6, 10**6))
    packed = STEPS["pack"].run(state, rt)
    assert packed["streamed"] is True
    head = rt.aws.s3.head(rt.settings.staging_bucket, packed["staging"]["unsealed"])
    assert head["ContentLength"] > 0 and "-" in head["ETag"], "a multipart upload, not a file sent from /tmp"
