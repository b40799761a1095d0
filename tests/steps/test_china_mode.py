"""China mode of the local cloud (issue 22 item 1): template.yaml resolved and run as a stack in aws-cn / cn-north-1, and a
Task naming another partition fails as Step Functions fails it (States.Runtime, which States.ALL does not catch)."""

from __future__ import annotations

import json
import time

import pytest

from earchive_devtools.localcloud import LOCAL_OIDC_ISSUER, LocalCloud
from earchive_devtools.template import Resolver, RuleFailed, load_template
from tests.contract.test_partitions import ROOT


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud(mode="china") as c:
        yield c


def test_a_china_stack_names_everything_in_aws_cn_and_has_no_cognito(cloud):
    assert (cloud.partition, cloud.region) == ("aws-cn", "cn-north-1")
    not_china = {k: v for k, v in cloud.resolver.arns.items() if k != "ConsoleApi" and not v.startswith("arn:aws-cn:")}
    assert not not_china, not_china
    for arn in cloud.state_machines.values():
        assert arn.startswith("arn:aws-cn:states:cn-north-1:")
    assert cloud.resolver.names["FailedExecutionsQueue"].startswith("https://sqs.cn-north-1.amazonaws.com.cn/")
    # what moto made itself is in aws-cn too (KMS keys, queues, the functions)
    kms = cloud.client("kms")
    assert kms.describe_key(KeyId=cloud.name("SealKey"))["KeyMetadata"]["Arn"].startswith("arn:aws-cn:kms:cn-north-1:")
    fn = cloud.client("lambda").get_function(FunctionName=cloud.name("CollectFunction"))["Configuration"]
    assert fn["FunctionArn"].startswith("arn:aws-cn:lambda:cn-north-1:") and fn["Role"].startswith("arn:aws-cn:iam::")
    queue = cloud.client("sqs").get_queue_attributes(QueueUrl=cloud.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert queue.startswith("arn:aws-cn:sqs:cn-north-1:")
    # no Cognito (not offered in China): the console trusts the issuer the China rule asks for
    cognito = [res for res in cloud.template["Resources"].values() if res["Type"].startswith("AWS::Cognito")]
    assert cognito and all(not cloud.resolver.condition(res["Condition"]) for res in cognito)
    assert cloud.env["EARCHIVE_OIDC_ISSUER"] == LOCAL_OIDC_ISSUER and cloud.env["EARCHIVE_USER_POOL"] == ""


def test_the_console_serves_without_cognito_and_sends_people_to_the_issuer(cloud):
    import json as js

    from earchive_devtools.gateway import Gateway, seed_users

    gateway = Gateway(cloud, port=0)
    try:
        assert gateway.pool is None and gateway.issuer == LOCAL_OIDC_ISSUER and seed_users(gateway) == []
        status, _, page = gateway.handle("GET", "/", {}, b"", "127.0.0.1")
        assert status == 200 and page
        status, _, config = gateway.handle("GET", "/config.json", {}, b"", "127.0.0.1")
        assert status == 200 and not js.loads(config).get("local_login"), "no password form to offer"
        assert gateway.handle("GET", "/api/cases", {}, b"", "127.0.0.1")[0] == 401, "the API wants the issuer's token"
        status, _, answer = gateway.handle("POST", "/auth/login", {}, b'{"username": "clerk1", "password": "x"}', "127.0.0.1")
        assert status == 501 and "OidcIssuer" in js.loads(answer)["error"]
    finally:
        gateway.server.server_close()


def test_x_ray_is_off_and_the_data_key_accepts_both_via_service_forms_in_china(cloud):
    r, resources = cloud.resolver, cloud.template["Resources"]
    assert r.value(cloud.template["Globals"]["Function"]["Tracing"]) == "PassThrough"
    assert cloud.env["POWERTOOLS_TRACE_DISABLED"] == "true"
    for logical in ("ArchiveStateMachine", "TransferStateMachine", "ReplyStateMachine"):
        assert r.value(resources[logical]["Properties"]["Tracing"]) == {"Enabled": False}
    statements = r.value(resources["DataKey"]["Properties"]["KeyPolicy"])["Statement"]
    via = next(s for s in statements if "kms:ViaService" in s.get("Condition", {}).get("StringEquals", {}))
    services = via["Condition"]["StringEquals"]["kms:ViaService"]
    for service in ("dynamodb", "sqs", "sns", "lambda"):
        assert {f"{service}.cn-north-1.amazonaws.com", f"{service}.cn-north-1.amazonaws.com.cn"} <= set(services)

    world = Resolver(load_template(ROOT / "template.yaml"))  # the global stack keeps X-Ray and one form, listed once
    assert world.value(world.template["Globals"]["Function"]["Tracing"]) == "Active"
    assert world.value(world.template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]) == "false"
    statements = world.value(world.template["Resources"]["DataKey"]["Properties"]["KeyPolicy"])["Statement"]
    via = next(s for s in statements if "kms:ViaService" in s.get("Condition", {}).get("StringEquals", {}))
    assert sorted(via["Condition"]["StringEquals"]["kms:ViaService"]) == [f"{s}.us-east-1.amazonaws.com" for s in ("dynamodb", "lambda", "sns", "sqs")]


def test_the_templates_rules_refuse_what_cloudformation_refuses():
    template = load_template(ROOT / "template.yaml")
    with pytest.raises(RuleFailed, match="OidcIssuer"):  # China without an identity provider
        Resolver(template, mode="china").check_rules()
    with pytest.raises(RuleFailed, match="SM2"):  # an SM2 seal outside China, where KMS has no SM2
        Resolver(template, params={"SealKeySpec": "SM2"}).check_rules()
    Resolver(template, params={"SealKeySpec": "SM2", "OidcIssuer": LOCAL_OIDC_ISSUER}, mode="china").check_rules()
    Resolver(template).check_rules()
    with pytest.raises(RuleFailed, match="OidcIssuer"):
        LocalCloud(mode="china", parameters={"OidcIssuer": ""}).provision()  # refused before anything is created


def run(cloud, name: str, definition: dict) -> dict:
    sfn = cloud.client("stepfunctions")
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=cloud.role)["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    deadline = time.monotonic() + 60
    while (out := sfn.describe_execution(executionArn=run))["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
    return out


def caught_everything(task: dict) -> dict:
    """One Task whose every error, States.ALL, goes to a Pass state: what the archive machine does to end in a report."""
    return {"StartAt": "Call", "States": {
        "Call": {"Type": "Task", **task, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "Result": {"outcome": "caught"}, "End": True}}}


def test_a_task_in_another_partition_fails_the_execution_with_states_runtime_that_states_all_does_not_catch(cloud):
    function = cloud.resolver.arns["CollectFunction"]  # arn:aws-cn:lambda:cn-north-1:…
    other = function.replace("arn:aws-cn:", "arn:aws:", 1)
    cloud.deploy("CollectFunction", lambda event, context: (_ for _ in ()).throw(RuntimeError("the function itself failed")))
    try:
        # the control: the same Task in the execution's own partition runs, and its failure is caught by States.ALL
        ok = run(cloud, "same-partition", caught_everything({"Resource": "arn:aws-cn:states:::lambda:invoke",
                                                             "Parameters": {"FunctionName": function, "Payload": {}}}))
        assert ok["status"] == "SUCCEEDED" and json.loads(ok["output"]) == {"outcome": "caught"}, ok
        for name, task in (("literal-aws-resource", {"Resource": "arn:aws:states:::lambda:invoke",
                                                     "Parameters": {"FunctionName": function, "Payload": {}}}),
                           ("aws-function-name", {"Resource": "arn:aws-cn:states:::lambda:invoke",
                                                  "Parameters": {"FunctionName": other, "Payload": {}}}),
                           ("aws-lambda-resource", {"Resource": other})):
            out = run(cloud, name, caught_everything(task))
            assert out["status"] == "FAILED", (name, out)
            assert out.get("error") == "States.Runtime", (name, out)
            assert "different partition from the running execution" in out.get("cause", ""), (name, out)
    finally:
        cloud.undeploy("CollectFunction")


def test_states_all_still_catches_ordinary_errors_and_data_limit_only_by_name(cloud):
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType as T

    class Env:
        stack: list

    def matches(names: list, error) -> bool:
        env = Env()
        env.stack = [error]
        ErrorEqualsDecl([StatesErrorName(typ=n) for n in names])._eval_body(env)
        return env.stack.pop()

    assert matches([T.StatesALL], StatesErrorName(typ=T.StatesTaskFailed))
    assert not matches([T.StatesALL], StatesErrorName(typ=T.StatesRuntime))
    assert not matches([T.StatesRuntime], StatesErrorName(typ=T.StatesRuntime)), "States.Runtime always fails the execution"
    assert not matches([T.StatesALL], StatesErrorName(typ=T.StatesStatesDataLimitExceeded))
    assert matches([T.StatesStatesDataLimitExceeded], StatesErrorName(typ=T.StatesStatesDataLimitExceeded))
