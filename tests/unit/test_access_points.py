"""One IAM design for any number of institutions (ADR 0012): the bucket delegates to this account's access points, and
each institution's access point policy grants its principals its own prefix — read its batches, write its replies — and
nothing else. The policy text is checked here; only real AWS enforces it (the closing note says so)."""

from __future__ import annotations

import fnmatch
import json

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from earchive.aws.access_points import AccessPoints
from earchive.domain.institution import access_point_name, access_point_policy
from earchive.errors import UsageError
from earchive_devtools.template import load_template
from tests.contract.test_names import ROOT

AP = "arn:aws:s3:us-east-1:111122223333:accesspoint/earchive-ap-430102001"
A_ROLE = "arn:aws:iam::444455556666:role/furong-archive-puller"
CODES = st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=12)


def grants(policy: dict) -> list[tuple[str, str]]:
    """(action, resource pattern) for every Allow."""
    out = []
    for s in policy["Statement"]:
        assert s["Effect"] == "Allow"
        for a in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
            out.append((a, s["Resource"]))
    return out


def test_an_institution_reads_its_prefix_and_writes_only_its_replies():
    policy = access_point_policy(AP, "430102001", [A_ROLE])
    assert sorted(grants(policy)) == sorted([
        ("s3:GetObject", f"{AP}/object/institutions/430102001/*"), ("s3:GetObjectVersion", f"{AP}/object/institutions/430102001/*"),
        ("s3:ListBucket", AP), ("s3:PutObject", f"{AP}/object/institutions/430102001/replies/*")])
    listing = next(s for s in policy["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["institutions/430102001/*"]}}
    assert all(s["Principal"] == {"AWS": [A_ROLE]} for s in policy["Statement"]), "only its registered principals"
    assert not any(a.endswith(("Delete", "DeleteObject", "PutObjectAcl", "*")) or "Retention" in a for a, _ in grants(policy))
    put = f"{AP}/object/institutions/430102001/replies/*"
    for key in ("institutions/430102001/batches/B1/transfer-list.json", "institutions/430102001/batches/B1/packages/x.zip"):
        assert not fnmatch.fnmatchcase(f"{AP}/object/{key}", put), "it cannot overwrite what the window sent"


@given(CODES, CODES)
def test_no_institution_reaches_another_institutions_prefix(a, b):
    if a.lower() == b.lower() or b.startswith(a) or a.startswith(b):  # "43" vs "430": the trailing "/" keeps them apart too
        a, b = a + "x", b + "y"
    policy = access_point_policy(AP, a, [A_ROLE])
    for action, pattern in grants(policy):
        for key in (f"institutions/{b}/batches/B/transfer-list.json", f"institutions/{b}/replies/B/r.json"):
            assert not fnmatch.fnmatchcase(f"{AP}/object/{key}", pattern), (a, b, action)


def test_hostile_codes_and_principals_are_refused():
    for code in ("*", "a/b", "../x", "", "4301*"):
        with pytest.raises(UsageError):
            access_point_policy(AP, code, [A_ROLE])
    for principal in ("*", "arn:aws:iam::*:root", "444455556666"):
        with pytest.raises(UsageError):
            access_point_policy(AP, "430102001", [principal])
    assert access_point_name("My_Stack.prod", "430102001").startswith("my-stack-prod-ap-430102001-")
    assert access_point_name("s", "ABC") != access_point_name("s", "abc"), "codes differing in case get their own"
    assert len(access_point_name("x" * 80, "4" * 32)) <= 50


def test_the_bucket_grants_nothing_itself_but_delegates_to_this_accounts_access_points():
    template = load_template(ROOT / "template.yaml")
    policy = template["Resources"]["TransferBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in policy if s["Effect"] == "Allow"]
    (delegation,) = allows
    assert delegation["Condition"] == {"StringEquals": {"s3:DataAccessPointAccount": {"Ref": "AWS::AccountId"}}}
    assert set(delegation["Action"]) == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:ListBucket"}
    text = json.dumps(template["Resources"])
    assert "InstitutionReadRole" not in text and "InstitutionPrincipal" not in text, "no per-institution role or parameter"
    for logical, res in template["Resources"].items():  # no other grant to principals outside the account on the transfer bucket
        if res["Type"] == "AWS::IAM::Role":
            trust = json.dumps(res["Properties"].get("AssumeRolePolicyDocument", {}))
            assert '"AWS"' not in trust, f"{logical} trusts an AWS principal"
    props = template["Resources"]["TransferBucket"]["Properties"]
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], "replies written cross-account are the bucket's"


@mock_aws
def test_opening_and_closing_an_institutions_access_point():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="transfer")
    points = AccessPoints(boto3.client("s3control", region_name="us-east-1"), "123456789012", "transfer", "earchive-prod")
    arn = points.open("430102001", [A_ROLE])
    assert arn == f"arn:aws:s3:us-east-1:123456789012:accesspoint/{access_point_name('earchive-prod', '430102001')}"
    assert points.policy("430102001") == access_point_policy(arn, "430102001", [A_ROLE])
    assert points.open("430102001", [A_ROLE, "arn:aws:iam::444455556666:root"]) == arn, "opening again updates the policy"
    assert len(points.policy("430102001")["Statement"][0]["Principal"]["AWS"]) == 2
    points.close("430102001")
    assert points.policy("430102001") is None
    points.close("430102001")  # closing twice is harmless
