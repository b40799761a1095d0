"""Least privilege, read from the template (review F7): no wildcard action or resource that docs/iam-allowlist.yaml
does not list with its reason; no SAM policy template that grants delete or lifecycle rights; no blanket SSM or KMS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from earchive_devtools.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
ALLOW = yaml.safe_load((ROOT / "docs" / "iam-allowlist.yaml").read_text("utf-8"))


def text(resource: Any) -> str:
    if isinstance(resource, dict):
        if "Fn::Sub" in resource:
            return resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], str) else resource["Fn::Sub"][0]
        if "Fn::GetAtt" in resource:
            return "${%s.%s}" % tuple(resource["Fn::GetAtt"])  # noqa: UP031
        if "Ref" in resource:
            return "${%s}" % resource["Ref"]  # noqa: UP031
    return str(resource)


def managed(name: str) -> list[dict]:
    """The statements of one of the template's own managed policies (``- !Ref XPolicy`` in a function's Policies)."""
    res = TEMPLATE["Resources"][name]
    assert res["Type"] == "AWS::IAM::ManagedPolicy", f"{name} is not a managed policy of this template"
    return res["Properties"]["PolicyDocument"]["Statement"]


def statements() -> list[tuple[str, dict]]:
    """Every Allow/Deny statement a resource holds, its managed policies included, as (resource, statement)."""
    out = []
    for logical, res in TEMPLATE["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Policy":  # a role's policy kept apart from it (the archive bucket's replication role)
            out += [(logical, st) for st in props["PolicyDocument"]["Statement"]]
        for item in props.get("Policies") or []:
            if "Ref" in item:
                out += [(logical, st) for st in managed(item["Ref"])]
            elif "Statement" in item:
                out += [(logical, st) for st in item["Statement"]]
            elif "PolicyDocument" in item:
                out += [(logical, st) for st in item["PolicyDocument"]["Statement"]]
    return out


def test_every_wildcard_is_on_the_allow_list_with_its_reason():
    allowed = ALLOW["wildcards"]
    assert all(entry.get("reason") for entry in allowed)
    for logical, st in statements():
        if st.get("Effect") != "Allow":
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), f"{logical}: wildcard action {actions}"
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in map(text, resources):
            if "*" not in r:
                continue
            ok = any(e["resource"] == logical and r.endswith(e["pattern"]) and set(actions) <= set(e["actions"]) for e in allowed)
            assert ok, f"{logical}: {actions} on {r} is a wildcard not in docs/iam-allowlist.yaml"


def test_only_listed_sam_policy_templates_are_used():
    """S3CrudPolicy (delete + PutLifecycleConfiguration) is gone from every function."""
    for logical, res in TEMPLATE["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":  # a user pool's `Policies` is its password policy
            continue
        for item in res.get("Properties", {}).get("Policies") or []:
            name = next(iter(item))
            if name in ("Statement", "PolicyName", "PolicyDocument", "Ref"):
                continue
            assert name in ALLOW["sam_templates"], f"{logical} uses {name}, not on the allow-list"


def test_ssm_and_kms_are_granted_only_where_used():
    signers = {"SealFunction", "TransferSubmitFunction"}
    for logical, st in statements():
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = [text(r) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]])]
        if "kms:Sign" in actions:
            assert logical in signers, f"{logical} may sign with the seal key but never signs"
        if any(a.startswith("ssm:") for a in actions):
            assert all(r.endswith(("${SignerCertificateParameter}", "${TrustAnchorsParameter}", "${TsaTrustAnchorsParameter}",
                                   "${ListSignerCertificateParameter}", "${AuthorizerJwksParameter}"))
                       for r in resources), f"{logical} reads SSM parameters beyond the named ones: {resources}"


RECORD_TABLES = ("CatalogueTable", "FileMapTable", "EventLogTable", "TransferTable")


def test_no_function_deletes_a_record():
    """No role may DeleteItem or BatchWriteItem (which deletes too) on a records table (review F7), save one:
    Organise gives back an archive serial it reserved but did not use, and only ``serialno#`` items."""
    seen_release = []
    for logical, st in statements():
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = " ".join(text(r) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]))
        assert "dynamodb:BatchWriteItem" not in actions, f"{logical}: BatchWriteItem can delete"
        assert not any(a in ("dynamodb:*", "dynamodb:Delete*") for a in actions), f"{logical}: {actions}"
        if "dynamodb:DeleteItem" not in actions or not any(t in resources for t in RECORD_TABLES):
            continue
        assert logical == "OrganiseFunction" and "CatalogueTable" in resources and set(actions) == {"dynamodb:DeleteItem"}, \
            f"{logical} may delete records from {resources}"
        assert st["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["serialno#*"]}}, st
        seen_release.append(logical)
    assert seen_release == ["OrganiseFunction"]


def test_the_event_log_is_append_only_for_every_function():
    """No function may UpdateItem or DeleteItem an entry. IAM cannot stop a PutItem over an existing entry: that is
    what the heads locked in the archive bucket catch (F19, `earchive log verify`)."""
    for logical, st in statements():
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = " ".join(text(r) for r in (st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]))
        if "EventLogTable" in resources:
            assert set(actions) <= {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}, f"{logical}: {actions}"


def test_the_code_uses_no_dynamodb_call_its_grants_lack():
    """The adapters call only what the managed table policies grant: no batch writes, deletes only of serials."""
    import re

    src = "\n".join(p.read_text("utf-8") for p in (ROOT / "layers/earchive/earchive/aws").glob("*.py"))
    assert "batch_writer" not in src and "batch_write_item" not in src
    deletes = re.findall(r"\.delete_item\(Key=\{\"package_id\": f\"(\w+)#", src)
    assert deletes == ["serialno"], deletes
