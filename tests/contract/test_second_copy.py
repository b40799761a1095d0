"""The second copy and the keys' guard (ADR 0018, issue 22 item 9), read from template.yaml and replica.yaml.

What S3, AWS Backup and KMS do with them is only shown on the local cloud (tests/pipeline/test_second_copy.py)
and, for the key policies, not at all before a real account: these tests keep the shapes the ADR relies on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from earchive_devtools.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
REPLICA = load_template(ROOT / "replica.yaml")
R = TEMPLATE["Resources"]


def listed(v: Any) -> list:
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("bucket", ["ArchiveBucket", "ReportsBucket"])
def test_the_archive_and_reports_buckets_replicate_everything_and_no_delete_only_when_a_replica_is_named(bucket):
    rep = R[bucket]["Properties"]["ReplicationConfiguration"]
    cond, config, otherwise = rep["Fn::If"]
    assert cond == "Replicates" and otherwise == {"Ref": "AWS::NoValue"}
    (rule,) = config["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": ""}  # packages/ and anchors/: the whole bucket
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    assert rule["Destination"]["Bucket"] == {"Ref": "ReplicaBucketArn"}
    assert rule["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}  # the archive is SSE-KMS
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": {"Ref": "ReplicaKmsKeyArn"}}
    # a trial stack (no replica named) resolves to no replication, no role and no policy: it still deploys
    r = Resolver(TEMPLATE, names={"ArchiveReplicationRole": "role"}, arns={"ArchiveReplicationRole": "arn:role"})
    assert not r.condition("Replicates")
    assert "ReplicationConfiguration" not in r.value({"ReplicationConfiguration": rep})
    assert all(R[n]["Condition"] == "Replicates"
               for n in ("ArchiveReplicationRole", "ArchiveReplicationPolicy", "ReplicationFailedAlarm", "ReportsReplicationFailedAlarm"))
    r.params["ReplicaBucketArn"] = "arn:aws-cn:s3:::vault-copy"
    assert r.condition("Replicates")


def test_the_replication_role_holds_what_s3_documents_for_object_lock_and_no_delete():
    actions = {a for st in R["ArchiveReplicationPolicy"]["Properties"]["PolicyDocument"]["Statement"] for a in listed(st["Action"])}
    assert actions == {"s3:GetReplicationConfiguration", "s3:ListBucket", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                       "s3:GetObjectVersionTagging", "s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:ReplicateObject",
                       "s3:ReplicateTags", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
    trust = R["ArchiveReplicationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"} and "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    # replica.yaml names this role before it exists, by name
    assert R["ArchiveReplicationRole"]["Properties"]["RoleName"] == {"Fn::Sub": "${AWS::StackName}-archive-replication"}
    assert "${SourceStackName}-archive-replication" in str(REPLICA["Resources"]["ReplicaBucketPolicy"])


def test_the_replica_bucket_enforces_compliance_object_lock_in_another_region():
    props = REPLICA["Resources"]["ReplicaBucket"]["Properties"]
    assert props["ObjectLockEnabled"] is True and props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert REPLICA["Resources"]["ReplicaBucket"]["DeletionPolicy"] == "Retain"
    granted = {a for st in REPLICA["Resources"]["ReplicaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
               if st["Effect"] == "Allow" for a in listed(st["Action"])}
    assert "s3:ReplicateDelete" not in granted and not any("Delete" in a for a in granted)
    assert "AnotherRegion" in REPLICA["Rules"]
    vault = REPLICA["Resources"]["BackupCopyVault"]["Properties"]["LockConfiguration"]
    assert "ChangeableForDays" in vault  # compliance-mode Vault Lock after the grace days


def test_every_table_that_holds_records_is_backed_up_daily_under_vault_lock_with_a_copy_elsewhere():
    tables = {n for n, res in R.items() if res["Type"] == "AWS::DynamoDB::Table" and res.get("DeletionPolicy") == "Retain"}
    selected = {x["Fn::GetAtt"][0] for x in R["TablesBackupSelection"]["Properties"]["BackupSelection"]["Resources"]}
    assert selected == tables and len(tables) >= 5
    (rule,) = R["TablesBackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["TargetBackupVault"] == {"Ref": "TablesBackupVault"}
    assert rule["CopyActions"]["Fn::If"][0] == "CopiesBackups"
    assert "LockConfiguration" in R["TablesBackupVault"]["Properties"]


def keys(template: dict) -> dict[str, dict]:
    return {n: res for n, res in template["Resources"].items() if res["Type"] == "AWS::KMS::Key"}


def test_no_key_can_be_deleted_disabled_or_re_policied_except_by_the_break_glass_role():
    found = {**keys(TEMPLATE), **{f"replica:{n}": r for n, r in keys(REPLICA).items()}}
    assert {"DataKey", "SealKey", "ListSigningKey", "replica:ReplicaKey"} <= set(found)
    for name, res in found.items():
        props = res["Properties"]
        assert props["PendingWindowInDays"] == 30, name
        assert res["DeletionPolicy"] == "Retain", name
        denied: dict[str, dict] = {}
        for st in props["KeyPolicy"]["Statement"]:
            if st["Effect"] == "Deny":
                for a in listed(st["Action"]):
                    denied[a] = st["Condition"]
        assert set(denied) >= {"kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"}, name
        for action, cond in denied.items():
            exempt = cond["ArnNotEquals"]["aws:PrincipalArn"]["Fn::If"]
            assert exempt[0] == "HasBreakGlassRole" and exempt[1] == {"Ref": "BreakGlassRoleArn"}, (name, action)
            assert exempt[2] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}, (name, action)
        # deletion and disabling: no CloudFormation exemption (the template never needs either: DeletionPolicy Retain)
        assert set(denied["kms:ScheduleKeyDeletion"]) == {"ArnNotEquals"} and set(denied["kms:DisableKey"]) == {"ArnNotEquals"}


def test_service_principals_on_the_data_key_are_bound_to_this_account():
    for st in R["DataKey"]["Properties"]["KeyPolicy"]["Statement"]:
        if st["Effect"] != "Allow" or "Service" not in st["Principal"]:
            continue
        cond = st.get("Condition", {})
        bound = "aws:SourceAccount" in cond.get("StringEquals", {}) or any(k.startswith("kms:EncryptionContext") for c in cond.values() for k in c)
        assert bound, st["Sid"]


def test_an_attempt_on_any_key_raises_an_alarm_that_does_not_depend_on_the_data_key():
    pattern = R["KeyEventsRule"]["Properties"]["EventPattern"]
    assert set(pattern["detail"]["eventName"]) == {"ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy"}
    named = str(pattern["detail"]["requestParameters"]["keyId"]["Fn::If"][1])  # with SM2: all three keys
    for name in keys(TEMPLATE):
        assert f"'{name}', 'Arn'" in named and f"{{'Ref': '{name}'}}" in named, name  # by ARN or by key id
    assert R["KeyEventsRule"]["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["KeyEventsQueue", "Arn"]}
    queue = R["KeyEventsQueue"]["Properties"]
    assert queue.get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in queue
    alarm = R["KeyEventsAlarm"]["Properties"]
    assert {"Ref": "KeyAlertsTopic"} in alarm["AlarmActions"] and "KmsMasterKeyId" not in R["KeyAlertsTopic"]["Properties"]
    send = R["KeyEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert send["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["KeyEventsRule", "Arn"]}}}


def test_replica_yaml_lints_clean_in_the_china_regions_and_us_east_1():
    """`make validate` lints template.yaml; replica.yaml is deployed on its own, so it is linted here (cfn-lint, an outside judge)."""
    api = pytest.importorskip("cfnlint.api")
    found = api.lint((ROOT / "replica.yaml").read_text("utf-8"), config=api.ManualArgs(regions=["us-east-1", "cn-north-1", "cn-northwest-1"]))
    assert [str(m) for m in found] == []
