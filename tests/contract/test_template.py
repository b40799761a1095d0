"""What template.yaml promises, read from the template itself."""

from __future__ import annotations

import json
from pathlib import Path

from earchive_devtools.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RES = TEMPLATE["Resources"]


def test_an_operator_is_told_of_every_system_failure_and_every_event_that_started_nothing():
    """F5: failed executions (not rejections) and undeliverable upload events go to queues with alarms on them."""
    rule = RES["FailedExecutionsRule"]["Properties"]
    detail = rule["EventPattern"]["detail"]
    assert set(detail["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    assert detail["error"] == [{"anything-but": ["Rejected"]}], "a rejection by rule is a business outcome, not an alert"
    assert {"Ref": "ArchiveStateMachine"} in detail["stateMachineArn"] and {"Ref": "TransferStateMachine"} in detail["stateMachineArn"]
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["FailedExecutionsQueue", "Arn"]}
    start = RES["ArchiveStateMachine"]["Properties"]["Events"]["CaseUploaded"]["Properties"]
    assert start["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["StartFailuresQueue", "Arn"]}
    for alarm, queue in (("FailedExecutionsAlarm", "FailedExecutionsQueue"), ("StartFailuresAlarm", "StartFailuresQueue")):
        props = RES[alarm]["Properties"]
        assert props["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        assert props["AlarmActions"] == [{"Ref": "AlertsTopic"}]


def test_every_task_of_the_archive_machine_ends_in_a_report_whatever_fails():
    """F5: every Task but Reject catches States.ALL into Reject, which writes the report; then Rejected or Failed."""
    asl = json.loads((ROOT / "statemachine" / "archive.asl.json").read_text("utf-8"))
    for name, state in asl["States"].items():
        if state["Type"] != "Task" or name == "Reject":
            continue
        catches = state.get("Catch", [])
        assert catches and catches[-1]["ErrorEquals"] == ["States.ALL"] and catches[-1]["Next"] == "Reject", name
        assert catches[-1]["ResultPath"] == "$.error"
    assert asl["States"]["Reject"]["Next"] == "Verdict"
    assert {c["Next"] for c in asl["States"]["Verdict"]["Choices"]} | {asl["States"]["Verdict"]["Default"]} == {"Failed", "Rejected"}
