"""The smoke test an operator runs against a deployed stack (issue 22 item 10), run here against the local cloud: every step
passes on a healthy stack, and a broken one fails the run with a report naming the step."""

from __future__ import annotations

import json

import pytest

from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.smoke import Smoke, local_target

pytestmark = pytest.mark.slow  # the local cloud, the archive, transfer and reply machines

# the China run is also a Changsha stack that keeps one named 全宗 (a smoke test must fit the stack it is run against)
MODES = [{}, {"mode": "china", "parameters": {"RegionCode": "430100", "FondsIdentifier": "0001,0002"}}]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.get("mode", "global"))
def test_the_smoke_test_passes_on_a_healthy_stack_and_names_a_broken_step(earchive_home, tmp_path, mode):
    with LocalCloud(**mode) as cloud:
        target = local_target(cloud, tmp_path / "pc")
        assert Smoke(target, tmp_path / "healthy", timeout=300).run() == 0
        report = json.loads((tmp_path / "healthy" / "smoke-report.json").read_text("utf-8"))
        assert report["passed"] and [s["ok"] for s in report["steps"]] == [True] * 7, report
        assert report["facts"]["lock_mode"] in ("COMPLIANCE", "GOVERNANCE") and report["facts"]["accepted"]
        # the same stack after a transfer execution failed (the status-change rule fills the alarm's queue), and with an
        # institution that is not registered: both named
        sfn = cloud.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=cloud.name("TransferStateMachine"), name="smoke-broken",
                                  input=json.dumps({"batch_id": "209901010001", "actor": "test"}))["executionArn"]
        assert cloud.wait([arn], timeout=120)[arn]["status"] == "FAILED"
        assert report["facts"]["institution"] == f"{target.region}999"
        target.institution, target.register = "430102998", None
        assert Smoke(target, tmp_path / "broken", timeout=300).run() == 1
        steps = {s["name"].split("：")[0]: s for s in json.loads((tmp_path / "broken" / "smoke-report.json").read_text("utf-8"))["steps"]}
        assert steps["归档"]["ok"] and steps["拒收"]["ok"]
        assert steps["接收单位"]["ok"] is False and "430102998" in steps["接收单位"]["detail"]
        assert steps["移交"]["ok"] is None and "not run" in steps["移交"]["detail"], "a step whose input failed is not run"
        assert steps["告警"]["ok"] is False and "FailedExecutionsQueue" in steps["告警"]["detail"]
