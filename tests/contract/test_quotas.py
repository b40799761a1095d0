"""Quotas, cost and safety of a stack, read from template.yaml (issue 22, item 8: F6, F9, F17, F18, F20, F22, F23, F24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from earchive_devtools.template import Resolver, RuleFailed, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RES = TEMPLATE["Resources"]
GLOBAL = TEMPLATE["Globals"]["Function"]
FUNCTIONS = {k: v for k, v in RES.items() if v["Type"] == "AWS::Serverless::Function"}
MACHINES = {k: v for k, v in RES.items() if v["Type"] == "AWS::Serverless::StateMachine"}
BUCKETS = {k: v for k, v in RES.items() if v["Type"] == "AWS::S3::Bucket"}
# a whole package (up to 12 GB) through /tmp, or copied in parts: they keep Lambda's 15 minutes and 10 GB of /tmp
HEAVY = {"PackFunction", "SealFunction", "CheckFunction", "StoreFunction", "TransferCopyFunction", "TransferReceiveCheckFunction"}


def _statements(props: dict) -> list[dict]:
    return [st for p in props.get("Policies", []) if isinstance(p, dict) for st in p.get("Statement", [])]


def test_the_texts_count_the_functions_there_are():
    """F6: the parameter's and README's counts are the template's."""
    n = len(FUNCTIONS)
    assert n == 16  # 15 and the Lambda authorizer (Authorizer=lambda)
    assert f"each of the {n} functions" in TEMPLATE["Parameters"]["FunctionConcurrency"]["Description"]
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "13 functions" not in readme and "13 ×" not in readme


def test_every_function_has_a_throttle_alarm_to_the_operators():
    """F6: a function throttled (account or reservation short of the load) alerts the operators' topic."""
    alarms = [v["Properties"] for v in RES.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms
               if a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == "Throttles" and a["Dimensions"][0]["Name"] == "FunctionName"}
    assert watched == set(FUNCTIONS)
    for a in alarms:
        if a.get("MetricName") == "Throttles":
            assert a["AlarmActions"] == [{"Ref": "AlertsTopic"}] and a["Statistic"] == "Sum" and a["TreatMissingData"] == "notBreaching"


def test_every_bucket_aborts_incomplete_multipart_uploads():
    """F9: parts of an upload never completed are invisible and billed forever unless a lifecycle rule aborts them."""
    for name, res in BUCKETS.items():
        for cold in (False, True):  # with and without the cold-storage rule
            r = Resolver(TEMPLATE)
            r.params["ColdStorageAfterDays"] = "180" if cold else "0"
            rules = r.value(res["Properties"].get("LifecycleConfiguration", {})).get("Rules", [])
            days = [x["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for x in rules
                    if "AbortIncompleteMultipartUpload" in x and x["Status"] == "Enabled" and not x.get("Prefix")]
            assert days and int(days[0]) <= 7, f"{name} (cold={cold}): {rules}"


@pytest.mark.parametrize(("function", "resource"), [
    ("StoreFunction", "${ArchiveBucket.Arn}/packages/*"),            # copy_locked of a package over 5 GB
    ("TransferCopyFunction", "${TransferBucket.Arn}/institutions/*/packages/*"),  # copy_version of a package over 5 GB
    ("PackFunction", "${StagingBucket.Arn}/*"),                      # a case larger than /tmp, packed in parts
    ("SealFunction", "${StagingBucket.Arn}/*"),                      # append_copy
    ("ConsoleFunction", "${IntakeBucket.Arn}/console/*"),            # put_stream of a large corrected bundle
    ("ConsoleFunction", "${StagingBucket.Arn}/console-previews/*"),  # put_stream of a material read out of a zip
])
def test_functions_that_start_multipart_uploads_may_abort_them_on_exactly_that_prefix(function, resource):
    """F9: an abort that IAM refuses leaves the parts behind (the adapter only logs it)."""
    found = [st for st in _statements(FUNCTIONS[function]["Properties"]) if "s3:AbortMultipartUpload" in st["Action"]]
    resources = [r["Fn::Sub"] if isinstance(r, dict) else r for st in found
                 for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
    assert resource in resources, f"{function}: {resources}"


def test_every_function_and_state_machine_logs_to_its_own_group_kept_for_a_while_and_encrypted():
    """F17: Lambda's own /aws/lambda/<name> group keeps logs forever, unencrypted; each has a declared one instead."""
    groups = set()
    for name, res in FUNCTIONS.items():
        group = res["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group not in groups, f"{name} shares {group}"
        groups.add(group)
    for res in MACHINES.values():
        logging = res["Properties"]["Logging"]
        assert logging["Level"] == "ERROR"
        assert {"Ref": "StateMachineLogDeliveryPolicy"} in res["Properties"]["Policies"]  # else creating the machine fails
        (dest,) = logging["Destinations"]
        groups.add(dest["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0])
    assert len(groups) == len(FUNCTIONS) + len(MACHINES)
    for group in groups:
        props = RES[group]["Properties"]
        assert RES[group]["Type"] == "AWS::Logs::LogGroup"
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"} and props["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    param = TEMPLATE["Parameters"]["LogRetentionDays"]
    assert int(param["Default"]) in param["AllowedValues"] and int(param["Default"]) >= 365  # a year's audit; checkov CKV_AWS_338


def test_the_data_key_lets_cloudwatch_logs_use_it_for_any_log_group_of_this_account():
    """F17: the log groups' KmsKeyId works only if the key policy lets logs.<region> encrypt for them."""
    stmt = next(s for s in RES["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
                if s["Principal"].get("Service") == {"Fn::Sub": "logs.${AWS::Region}.${AWS::URLSuffix}"})
    assert stmt["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]["Fn::Sub"].endswith(":log-group:*")


def test_a_trial_stack_cannot_lock_in_compliance_mode():
    """F18: development keys (a trial) with COMPLIANCE would lock the trial's data for 10-100 years; the Rule refuses it."""
    assert TEMPLATE["Parameters"]["LockMode"]["Default"] == "COMPLIANCE"  # production stays COMPLIANCE
    assert set(TEMPLATE["Parameters"]["LockMode"]["AllowedValues"]) == {"COMPLIANCE", "GOVERNANCE"}
    for keys, mode, refused in (("true", "COMPLIANCE", True), ("true", "GOVERNANCE", False), ("false", "COMPLIANCE", False),
                                ("false", "GOVERNANCE", False)):
        r = Resolver(TEMPLATE)
        r.params.update(AllowDevelopmentKeys=keys, LockMode=mode)
        if refused:
            with pytest.raises(RuleFailed, match="TrialsLockInGovernanceMode"):
                r.check_rules()
        else:
            r.check_rules()
    lock = RES["ArchiveBucket"]["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert lock["Mode"] == {"Ref": "LockMode"}
    assert GLOBAL["Environment"]["Variables"]["EARCHIVE_LOCK_MODE"] == {"Ref": "LockMode"}
    assert TEMPLATE["Outputs"]["LockMode"]["Value"] == {"Ref": "LockMode"}


def test_only_the_heavy_functions_get_fifteen_minutes_and_ten_gigabytes():
    """F24: a hung small call is billed 15 minutes and /tmp per GB-second; the console finishes within the HTTP API's 30 s."""
    assert int(GLOBAL["Timeout"]) <= 60 and int(GLOBAL["EphemeralStorage"]["Size"]) == 512
    for name, res in FUNCTIONS.items():
        props = res["Properties"]
        timeout = int(props.get("Timeout", GLOBAL["Timeout"]))
        tmp = int(props.get("EphemeralStorage", GLOBAL["EphemeralStorage"])["Size"])
        if name in HEAVY:
            assert (timeout, tmp) == (900, 10240), name
        else:
            assert timeout <= 300 and tmp == 512, name
    assert int(FUNCTIONS["ConsoleFunction"]["Properties"]["Timeout"]) <= 29


def test_no_dead_letter_queue_that_can_never_receive():
    """F23: every invocation is synchronous (Step Functions, API Gateway); a Lambda DLQ only takes asynchronous failures."""
    assert "DeadLetterQueue" not in GLOBAL
    assert not any("DeadLetterQueue" in res["Properties"] for res in FUNCTIONS.values())
    assert "FunctionDeadLetterQueue" not in RES
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "every function has\na dead-letter queue" not in readme and "every function has a dead-letter queue" not in readme


def test_only_this_stacks_rules_may_write_to_the_alert_queues():
    """F22: events.amazonaws.com may SendMessage only on behalf of this stack's three rules (confused deputy)."""
    stmts = [s for s in RES["AlertQueuesPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    arns = {}
    for s in stmts:
        assert s["Principal"] == {"Service": "events.amazonaws.com"}
        source = s["Condition"]["ArnEquals"]["aws:SourceArn"]
        arns[s["Resource"]["Fn::GetAtt"][0]] = {a["Fn::GetAtt"][0] for a in (source if isinstance(source, list) else [source])}
    assert arns == {"FailedExecutionsQueue": {"FailedExecutionsRule"},
                    "StartFailuresQueue": {"ArchiveStateMachineCaseUploaded", "ReplyStateMachineReplyArrived"}}
    # the names SAM gives the rules it makes from the state machines' EventBridgeRule events (<machine><event>)
    assert "CaseUploaded" in MACHINES["ArchiveStateMachine"]["Properties"]["Events"]
    assert "ReplyArrived" in MACHINES["ReplyStateMachine"]["Properties"]["Events"]


def test_the_runtime_has_a_plan_and_the_layer_is_built_for_it():
    """F20: python3.11 is deprecated 2027-06-30; the layer's compiled wheels must match the functions' runtime."""
    runtime = GLOBAL["Runtime"]
    layer = RES["EarchiveLayer"]
    assert runtime in layer["Properties"]["CompatibleRuntimes"]
    built_for = re.search(r"^RUNTIME_PYTHON\s*:=\s*(\S+)", (ROOT / "layers" / "earchive" / "Makefile").read_text("utf-8"), re.M)
    assert layer["Metadata"]["BuildMethod"] == "makefile" and built_for and f"python{built_for.group(1)}" == runtime
    adr = (ROOT / "docs" / "adr").glob("*runtime*.md")
    assert any("python3.13" in p.read_text("utf-8") and "2027-06-30" in p.read_text("utf-8") for p in adr)


def test_make_validate_lints_for_both_china_regions_with_a_pinned_cfn_lint():
    """F26: cfn-lint at a pinned version over us-east-1 and both China regions; each ignore is justified beside its resource."""
    make = (ROOT / "Makefile").read_text("utf-8")
    assert "CFNLINT_VERSION := 1." in make and '"cfn-lint==$(CFNLINT_VERSION)"' in make
    assert "$(CFNLINT) --regions us-east-1 cn-north-1 cn-northwest-1" in make
    for name, res in RES.items():
        ignored = res.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
        if not ignored:
            continue
        if ignored == ["E3006"]:  # Cognito types are absent in China; these exist only without an issuer, which China refuses
            assert res["Type"].startswith("AWS::Cognito::") and res.get("Condition") == "UseCognito", name
        else:  # lint resolves ReplicaKmsKeyArn to its empty default; these exist only with it set (Rule ReplicaNeedsItsKey)
            assert ignored == ["W1031"] and res.get("Condition") == "Replicates", name
