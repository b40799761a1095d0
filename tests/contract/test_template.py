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


def _tasks(states: dict) -> list[tuple[str, dict]]:
    out = []
    for name, st in states.items():
        if st.get("Type") == "Task":
            out.append((name, st))
        for key in ("ItemProcessor", "Iterator"):
            if key in st:
                out += _tasks(st[key]["States"])
    return out


def _backoff(r: dict) -> float:
    """Seconds a retrier waits in all, at most (no jitter)."""
    interval, total = float(r.get("IntervalSeconds", 1)), 0.0
    for _ in range(int(r.get("MaxAttempts", 3))):
        total += min(interval, float(r.get("MaxDelaySeconds", 1e9)))
        interval *= float(r.get("BackoffRate", 2.0))
    return total


def test_every_lambda_task_rides_out_throttling_for_minutes():
    """F6: a flood throttles the functions (reserved concurrency); a Map item must not give up after 30 s and be auto-returned."""
    for machine in ("archive", "transfer", "reply"):
        states = json.loads((ROOT / "statemachine" / f"{machine}.asl.json").read_text("utf-8"))["States"]
        for name, st in _tasks(states):
            if "lambda:invoke" not in st["Resource"]:
                continue
            throttled = next(r for r in st["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"])
            assert _backoff(throttled) >= 300 and throttled.get("JitterStrategy") == "FULL", f"{machine}.{name}: {throttled}"
            transient = next(r for r in st["Retry"] if "TransientError" in r["ErrorEquals"])
            assert _backoff(transient) >= 300, f"{machine}.{name}: transient outages are retried for ~5 min"


def test_a_new_account_deploys_the_default_and_a_reservation_says_what_the_transfer_map_needs():
    """F6: the default reserves nothing (a new account's limit may be 10); a reservation below the Map's width is named as throttling."""
    states = json.loads((ROOT / "statemachine" / "transfer.asl.json").read_text("utf-8"))["States"]
    maps = [st for st in states.values() if st["Type"] == "Map"]
    param = TEMPLATE["Parameters"]["FunctionConcurrency"]
    assert int(param["Default"]) == 0 and int(param["MinValue"]) == 0
    widths = {m["MaxConcurrency"] for m in maps}
    assert widths and all(f"below {w} the transfer Map ({w} at a time)" in param["Description"] for w in widths)
    assert TEMPLATE["Globals"]["Function"]["ReservedConcurrentExecutions"] == \
        {"Fn::If": ["ReservesConcurrency", {"Ref": "FunctionConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert TEMPLATE["Conditions"]["ReservesConcurrency"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "FunctionConcurrency"}, "0"]}]}


def test_where_the_seal_is_sm2_an_ecdsa_key_certifies_the_printed_list():
    """pyHanko makes no SM2 PDF signatures (ADR 0012): an SM2 stack gets ListSigningKey for the PDF, and Submit may sign with it."""
    from earchive_devtools.template import Resolver

    for spec, expected in (("SM2", True), ("ECC_NIST_P256", False)):
        r = Resolver(TEMPLATE)
        r.params.update(SealKeySpec=spec, ListSignerCertificateParameter="/earchive/list-cert")
        r.names.update(ListSigningKey="list-key", SealKey="seal-key")
        r.arns.update(ListSigningKey="arn:list-key", SealKey="arn:seal-key")
        assert r.condition("SealKeyIsSm2") is expected and r.condition("HasListSignerCertificate") is expected
        props = TEMPLATE["Resources"]["TransferSubmitFunction"]["Properties"]
        env = r.value(props["Environment"]["Variables"])
        assert (env.get("EARCHIVE_PDF_SIGNER") == "kms:list-key") is expected
        assert (env.get("EARCHIVE_PDF_SIGNER_CERT_PARAMETER") == "/earchive/list-cert") is expected
        kms = next(s for p in props["Policies"] if isinstance(p, dict) for s in p.get("Statement", []) if "kms:Sign" in s["Action"])
        assert ("arn:list-key" in r.value(kms["Resource"])) is expected
    key = TEMPLATE["Resources"]["ListSigningKey"]
    assert key["Condition"] == "SealKeyIsSm2" and key["Properties"]["KeySpec"] == "ECC_NIST_P256"
