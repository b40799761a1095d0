"""Least privilege, exercised: every AWS call each function makes on the local cloud is granted to it by template.yaml.

moto enforces no IAM, so a grant missing from the template shows only on AWS (review of issue 8:
Organise's file-map copy had no grant). Here the local cloud records every call a function makes
(`earchive_devtools.localcloud.recorded_calls`), a full run goes through the archive and transfer
machines, and each call is matched against the function's statements in the template: its own,
its managed policies and the SAM policy templates it uses, with resources resolved as deployed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json

import pytest

from earchive.check import CheckOptions
from earchive.cli import _seal_identity
from earchive.client import TransferService
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.domain.transfer import Selection
from earchive.receive import Desk
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import ACCOUNT, REGION, LocalCloud, recorded_calls
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # the whole loop on the local cloud

SAM_TEMPLATES = {
    "S3ReadPolicy": (("s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion", "s3:GetLifecycleConfiguration"),
                     lambda p: [f"arn:aws:s3:::{p['BucketName']}", f"arn:aws:s3:::{p['BucketName']}/*"]),
    "DynamoDBReadPolicy": (("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"),
                           lambda p: [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}",
                                      f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p['TableName']}/index/*"]),
}


def grants(cloud: LocalCloud, logical: str) -> list[dict]:
    """The function's statements with resources resolved as the local cloud named them."""
    out = []
    for item in cloud.template["Resources"][logical]["Properties"].get("Policies") or []:
        if "Ref" in item:
            out += cloud.template["Resources"][item["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        elif "Statement" in item:
            out += item["Statement"]
        else:
            name, params = next(iter(item.items()))
            actions, resources = SAM_TEMPLATES[name]
            out.append({"Effect": "Allow", "Action": list(actions), "Resource": resources(cloud.resolver.value(params))})
    resolved = []
    for st in out:
        res = cloud.resolver.value(st["Resource"])
        resolved.append({**st, "Action": st["Action"] if isinstance(st["Action"], list) else [st["Action"]],
                         "Resource": res if isinstance(res, list) else [res]})
    return resolved


def needed(service: str, op: str, p: dict) -> list[tuple[str, str, str | None]]:
    """(IAM action, resource ARN, DynamoDB leading key) a call needs, as AWS's authorization reference says."""
    if service == "s3":
        obj = f"arn:aws:s3:::{p.get('Bucket')}/{p.get('Key')}"
        bucket = f"arn:aws:s3:::{p.get('Bucket')}"
        versioned = bool(p.get("VersionId"))
        if op in ("GetObject", "HeadObject"):
            return [("s3:GetObjectVersion" if versioned else "s3:GetObject", obj, None)]
        if op in ("PutObject", "CreateMultipartUpload"):
            out = [("s3:PutObject", obj, None)]
            out += [("s3:PutObjectRetention", obj, None)] if p.get("ObjectLockMode") else []
            out += [("s3:PutObjectLegalHold", obj, None)] if p.get("ObjectLockLegalHoldStatus") else []
            return out
        if op in ("UploadPart", "CompleteMultipartUpload"):
            return [("s3:PutObject", obj, None)]
        if op == "AbortMultipartUpload":
            return [("s3:AbortMultipartUpload", obj, None)]
        if op in ("CopyObject", "UploadPartCopy"):
            src = p.get("CopySource") or {}
            src = src if isinstance(src, dict) else {"Bucket": str(src).split("/", 1)[0], "Key": str(src).split("/", 1)[1]}
            return [("s3:PutObject", obj, None),
                    ("s3:GetObjectVersion" if src.get("VersionId") else "s3:GetObject", f"arn:aws:s3:::{src['Bucket']}/{src['Key']}", None)]
        if op == "DeleteObject":
            return [("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", obj, None)]
        if op == "DeleteObjects":
            return [("s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject", f"{bucket}/{o['Key']}", None)
                    for o in (p.get("Delete") or {}).get("Objects", [])]
        if op == "PutObjectTagging":
            return [("s3:PutObjectVersionTagging" if versioned else "s3:PutObjectTagging", obj, None)]
        if op in ("GetObjectAttributes",):
            return [("s3:GetObjectVersionAttributes" if versioned else "s3:GetObjectAttributes", obj, None)]
        if op in ("ListObjectsV2", "ListObjects"):
            return [("s3:ListBucket", bucket, None)]
        if op == "ListObjectVersions":
            return [("s3:ListBucketVersions", bucket, None)]
        return [(f"s3:{op}", obj, None)]
    if service == "dynamodb" and op == "TransactWriteItems":  # no IAM action of its own: each item's action on its table
        actions = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
        out = []
        for item in p.get("TransactItems") or []:
            (kind, spec), = item.items()
            out += needed(service, actions[kind], {"TableName": spec["TableName"], "Key": spec.get("Key") or spec.get("Item") or {}})
        return out
    if service == "dynamodb":
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{p.get('TableName')}" + (f"/index/{p['IndexName']}" if p.get("IndexName") else "")
        key = p.get("Key") or {}
        leading = next(iter(key.values()), None) if isinstance(key, dict) else None
        leading = leading.get("S") if isinstance(leading, dict) else leading
        return [(f"dynamodb:{op}", arn, leading)]
    if service == "stepfunctions" and op.startswith("SendTask"):  # a task token names no resource: IAM checks its state machine's
        return [(f"states:{op}", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:earchive-local-transfer", None)]
    if service == "stepfunctions":
        return [(f"states:{op}", p.get("executionArn") or p.get("stateMachineArn") or "*", None)]
    if service == "cognito-idp":
        return [(f"cognito-idp:{op}", f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{p.get('UserPoolId')}", None)]
    if service == "events":
        return [(f"events:{op}", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default", None)]
    if service == "kms":
        return [(f"kms:{op}", str(p.get("KeyId")), None)]
    if service == "ssm":
        return [(f"ssm:{op}", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{p.get('Name')}", None)]
    return [(f"{service}:{op}", "*", None)]


def allowed(statements: list[dict], action: str, resource: str, leading: str | None, cloud: LocalCloud) -> bool:
    if any(st.get("Effect") == "Deny" and any(fnmatch.fnmatchcase(action, a) for a in st["Action"])
           and any(fnmatch.fnmatchcase(resource, r) for r in st["Resource"]) for st in statements):
        return False  # an explicit Deny wins over any Allow
    for st in statements:
        if st.get("Effect") != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in st["Action"]):
            continue
        if action.startswith("kms:"):  # the key is named by its id or ARN
            keys = {cloud.resolver.names.get("SealKey"), cloud.resolver.arns.get("SealKey")}
            if resource in keys and any(r in keys for r in st["Resource"]):
                return True
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in st["Resource"]):
            continue
        cond = (st.get("Condition") or {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        if cond and not (leading and any(fnmatch.fnmatchcase(leading, c) for c in cond)):
            continue
        return True
    return False


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def upload_all(cloud: LocalCloud, paths) -> list[dict]:
    for p in paths:
        cloud.upload(p)
    return list(cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values())


def test_every_call_each_function_makes_is_granted_by_the_template(cloud, tmp_path):
    cases = [sample_case(tmp_path / "c", seed=s) for s in (961, 962)]
    bad = sample_case(tmp_path / "c", seed=963, defect="truncated")
    virus = sample_case(tmp_path / "c", seed=964, defect="eicar")
    results = upload_all(cloud, [zip_case(c.folder, tmp_path / f"{c.project_id}.zip") for c in (*cases, bad, virus)])
    assert sorted(r["status"] for r in results) == ["FAILED", "FAILED", "SUCCEEDED", "SUCCEEDED"]
    svc = TransferService.from_cloud(cloud)
    codes = [json.loads(r["output"])["record_code"] for r in results if r["status"] == "SUCCEEDED"]
    register(svc)  # its reply-signing certificate comes later, as a renewal would
    bid = svc.create(Selection(package_ids=tuple(codes)), institution="430102001", institution_name="芙蓉区行政审批服务局",
                     transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    back = codes[0]
    svc.decide(bid, receiver="王芳", returns={back: "申请表扫描件模糊，请重新扫描"})
    case = next(c for c in cases if svc.transfers.catalogue.get(back)["project_id"] == c.project_id)
    fixed = sample_case(tmp_path / "fixed", seed=int(case.project_id[-3:]), remarks="补正")  # the returned case, corrected
    (again,) = upload_all(cloud, [zip_case(fixed.folder, tmp_path / f"{case.project_id}.zip")])
    assert again["status"] == "SUCCEEDED", again.get("cause")
    new = svc.resubmit(bid, transferor="李敏")["batch_id"]
    svc.submit(new, actor="李敏")
    svc.wait_for_decision(new)
    # the institution replies with its own key; the reply machine verifies it (ReplyVerifyFunction's calls are recorded too)
    desk = Desk("430102001", tmp_path / "institution-pc")
    svc.aws.institutions.add_certificate("430102001", desk.init("芙蓉区行政审批服务局").read_bytes(), actor="管理员")
    anchors, identity = load_trust_anchors(DevPKI().ca_path), _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    desk.pull(s3, bucket, new, trust=anchors, seal_identity=identity)
    desk.check(new, CheckOptions(trust=anchors, seal_identity=identity))
    desk.send(s3, bucket, new, *desk.reply(new, receiver="王芳", returns={}))
    (verdict,) = cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), timeout=300).values()
    assert json.loads(verdict["output"])["outcome"] == "taken", verdict
    assert svc.take_reply(new, actor="李敏")["status"] == "ACCEPTED"

    console(cloud, svc, bad, tmp_path)

    # every function this stack has (the Lambda authorizer only with Authorizer=lambda: test_console_origins runs it)
    functions = {cloud.name(logical): logical for logical, res in cloud.template["Resources"].items()
                 if res["Type"] == "AWS::Serverless::Function" and ("Condition" not in res or cloud.resolver.condition(res["Condition"]))}
    calls = [c for c in recorded_calls() if c[0] in functions]
    exercised = {functions[c[0]] for c in calls}
    assert exercised == set(functions.values()), f"not exercised: {set(functions.values()) - exercised}"
    missing = set()
    for name, service, op, params in calls:
        logical = functions[name]
        statements = grants(cloud, logical)
        for action, resource, leading in needed(service, op, params):
            if not allowed(statements, action, resource, leading, cloud):
                missing.add(f"{logical}: {action} on {resource}" + (f" (key {leading})" if leading else ""))
    assert len(calls) > 200 and {c[1] for c in calls} >= {"s3", "dynamodb", "kms"}
    ops = {(functions[c[0]], c[2]) for c in calls}
    assert ("PackFunction", "PutObject") in ops and ("SealFunction", "PutObject") in ops, "transfer-manager uploads are recorded too"
    assert {("TransferCopyFunction", "CopyObject"), ("TransferCopyFunction", "UploadPartCopy")} & ops
    assert not missing, "calls the template does not grant:\n" + "\n".join(sorted(missing))


def console(cloud: LocalCloud, svc: TransferService, bad, tmp_path) -> None:
    """The ConsoleFunction's routes through the local gateway, as API Gateway calls them: lists, a case, 补录, 申请移交."""
    import urllib.parse
    import urllib.request

    from earchive_devtools.gateway import LOCAL_PASSWORD, Gateway

    gw = Gateway(cloud, port=0).start()
    try:
        items = [i for i in cloud.catalogue().by_status() if i.get("hall")]
        own = json.loads((bad.folder / "case.json").read_text("utf-8"))["case"]
        halls = sorted({i["hall"] for i in items} | {f"{own['region_code']}#{own['fonds_identifier']}"})
        gw.users().add("clerk-iam", "window_clerk", [f"hall:{h.replace('#', ':')}" for h in halls], password=LOCAL_PASSWORD)
        token = gw.users().sign_in(gw.client_id, "clerk-iam", LOCAL_PASSWORD)["IdToken"]

        def call(method: str, path: str, body: dict | None = None) -> dict:
            req = urllib.request.Request(gw.url.rstrip("/") + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
            try:
                with urllib.request.urlopen(req) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as exc:
                raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

        q = urllib.parse.quote
        rejected = next(i for i in items if i["status"] == "REJECTED" and i.get("project_id") == bad.project_id)  # the truncated case
        archived = next(i for i in items if i["status"] in ("ARCHIVED", "ACCEPTED"))
        call("GET", f"/api/cases?hall={q(rejected['hall'])}&status=REJECTED")
        detail = call("GET", f"/api/cases/{q(archived['package_id'], safe='')}")
        member = detail["materials"][0]["member"]
        assert call("GET", f"/api/cases/{q(archived['package_id'], safe='')}/materials/{q(member, safe='')}")["url"]
        call("GET", f"/api/cases/{q(rejected['package_id'], safe='')}/form")
        good = sample_case(tmp_path / "console-fix", seed=963)  # the truncated case as it should have been
        data = json.loads((good.folder / "case.json").read_text("utf-8"))
        uploads = {}
        for m in data["materials"]:  # the browser's PUT to each presigned slot, done here with the test's own client
            body = (good.folder / m["file_name"]).read_bytes()
            slot = call("POST", "/api/uploads", {"file_name": m["file_name"], "size": len(body), "content_type": "application/pdf"})
            cloud.client("s3").put_object(Bucket=cloud.name("StagingBucket"), Key=slot["key"], Body=body)
            uploads[m["file_name"]] = {"key": slot["key"]}
        fixed = call("POST", f"/api/cases/{q(rejected['package_id'], safe='')}/fix", {"case_json": data, "uploads": uploads})
        (run,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values()
        code = json.loads(run["output"]).get("record_code") if run["status"] == "SUCCEEDED" else None
        assert code, f"the corrected bundle {fixed['upload']['key']} was not archived: {run.get('cause')}"
        hall = svc.transfers.catalogue.get(code)["hall"]
        call("GET", f"/api/archived?hall={q(hall)}")
        batch = call("POST", "/api/batches", {"hall": hall, "institution": "430102001", "packages": [code]})
        call("GET", f"/api/batches?hall={q(hall)}")
        call("GET", f"/api/batches/{batch['batch_id']}")
        call("POST", f"/api/batches/{batch['batch_id']}/submit")
        gw.users().add("admin-iam", "admin", [], password=LOCAL_PASSWORD)  # the admin page: users of this stack's pool
        token = gw.users().sign_in(gw.client_id, "admin-iam", LOCAL_PASSWORD)["IdToken"]
        call("POST", "/api/users", {"name": "clerk-new", "role": "window_clerk", "scopes": ["430102:0102"], "display_name": "新同事"})
        assert any(u["name"] == "clerk-new" for u in call("GET", "/api/users")["items"])
        svc.wait_for_decision(batch["batch_id"])
        # the receiver's page: the batch as sent, a report link, a reply signed outside the server in two steps
        from tests.pipeline.test_console_reply import webcrypto_sign

        gw.users().add("receiver-iam", "receiver", ["institution:430102001"], password=LOCAL_PASSWORD)
        token = gw.users().sign_in(gw.client_id, "receiver-iam", LOCAL_PASSWORD)["IdToken"]
        bid = batch["batch_id"]
        transfer_bucket, base = cloud.name("TransferBucket"), f"institutions/430102001/batches/{bid}/"
        s3 = cloud.client("s3")
        printed = s3.get_object(Bucket=transfer_bucket, Key=base + "transfer-list.pdf")["Body"].read()
        s3.delete_object(Bucket=transfer_bucket, Key=base + "transfer-list.pdf")  # the printed list not written yet (F10: a 404, not a 403)
        page = call("GET", f"/api/inbox/{bid}")
        assert page["waiting"] and page["printed_list"] is False
        s3.put_object(Bucket=transfer_bucket, Key=base + "transfer-list.pdf", Body=printed)
        assert call("GET", f"/api/inbox/{bid}")["printed_list"] is True
        assert call("GET", f"/api/inbox/{bid}/files/{q(code, safe='')}?kind=report")["url"]
        institution = Desk("430102001", tmp_path / "institution-pc")  # the key made in the test above, on "its own machine"

        def reply() -> None:
            step = call("POST", f"/api/inbox/{bid}/reply", {"receiver": "王芳", "returns": {}, "certificate": institution.cert_path.read_text()})
            while step["step"] != "sent":
                step = call("POST", f"/api/inbox/{bid}/reply/{step['session']}",
                            {"step_token": step["step_token"], "signature": webcrypto_sign(institution.key_path.read_bytes(), step["to_sign"])})

        reply()  # a reply whose signature is spoiled on its way: the reply machine refuses it, beside it a .refused.json
        replies_prefix = f"institutions/430102001/replies/{bid}/"
        (sig,) = [o["Key"] for o in s3.list_objects_v2(Bucket=transfer_bucket, Prefix=replies_prefix)["Contents"] if o["Key"].endswith(".p7s")]
        s3.put_object(Bucket=transfer_bucket, Key=sig, Body=b"not a signature")
        outcomes = [json.loads(v["output"])["outcome"] for v in cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), timeout=300).values()]
        assert [o for o in outcomes if o != "ignored"] == ["refused"], outcomes  # the other objects of a reply are ignored by name
        assert call("GET", f"/api/inbox/{bid}")["refused_replies"], "the console reads the refusal (GetObject on .refused.json)"
        reply()  # the receiver signs again after the refusal (F10: the console HEADs the .refused.json)
        outcomes = [json.loads(v["output"])["outcome"] for v in cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), timeout=300).values()]
        assert [o for o in outcomes if o != "ignored"] == ["taken"], outcomes  # the .refused.json written above is an object too
        gw.users().add("auditor-iam", "auditor", [], password=LOCAL_PASSWORD)  # the auditor's list of streams, and one stream
        token = gw.users().sign_in(gw.client_id, "auditor-iam", LOCAL_PASSWORD)["IdToken"]
        assert any(i["stream"] == f"batch#{bid}" for i in call("GET", "/api/log?kind=batch")["items"])
        assert call("GET", f"/api/log/{q('batch#' + bid, safe='')}")["chain_problems"] == []
    finally:
        gw.stop()
