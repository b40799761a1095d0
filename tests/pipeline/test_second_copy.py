"""The second copy (ADR 0018) on the local cloud: a locked package replicated with its lock, and the restore procedure.

replica.yaml is deployed in the other region first and template.yaml with its outputs, as on AWS; the local cloud
replicates as S3 does (earchive_devtools.replication). The primary is then lost - its tables and its archive bucket -
and the ADR's restore is run: the tables from their backup, the archive read from the replica. What proves it is what
an auditor would run: the package each catalogue row pins verifies offline, and every event stream's chain matches
the heads locked in the replica.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from earchive.check import check_package
from earchive.client import TransferService, verify_event_log
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.replication import back_up_tables, backed_up_tables, restore_tables
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


def versions(s3, bucket: str, prefix: str) -> set[tuple[str, str]]:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    return {(v["Key"], v["VersionId"]) for page in pages for v in page.get("Versions", [])}


def test_a_locked_package_reaches_the_second_copy_with_its_lock_and_the_archive_is_restored_from_it(earchive_home, tmp_path):
    with LocalCloud(second_copy=True) as cloud:
        for seed in (211, 212, 213):
            case = sample_case(tmp_path / "cases", seed=seed)
            cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))
        results = list(cloud.wait(cloud.dispatch(wait=0.5), timeout=240).values())
        assert [r["status"] for r in results] == ["SUCCEEDED"] * 3, [r.get("cause") for r in results]
        codes = [json.loads(r["output"])["record_code"] for r in results]
        s3, replica, archive = cloud.client("s3"), cloud.replica["ReplicaBucketName"], cloud.name("ArchiveBucket")
        assert cloud.replica["ReplicaRegion"] != "us-east-1"
        assert s3.get_object_lock_configuration(Bucket=replica)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"

        # -- replicated: the same version, with its lock, re-encrypted under the replica's key
        holds = set()
        for code in codes:
            loc = cloud.catalogue().get(code)["archive"]
            src = s3.head_object(Bucket=archive, Key=loc["key"], VersionId=loc["version_id"])
            copy = s3.head_object(Bucket=replica, Key=loc["key"], VersionId=loc["version_id"])
            assert (src["ReplicationStatus"], copy["ReplicationStatus"]) == ("COMPLETED", "REPLICA")
            for field in ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus", "ETag", "ContentLength"):
                assert copy.get(field) == src.get(field), field
            assert copy["ObjectLockMode"] == "COMPLIANCE" and copy["SSEKMSKeyId"] == cloud.replica["ReplicaKmsKeyArn"]
            holds.add(copy.get("ObjectLockLegalHoldStatus"))
            report = cloud.catalogue().get(code)["check_report"]  # the check report travels too, and is locked there
            assert s3.head_object(Bucket=replica, Key=report)["ObjectLockMode"] == "COMPLIANCE"
            with pytest.raises(ClientError):  # the replica is as undeletable as the original
                s3.delete_object(Bucket=replica, Key=loc["key"], VersionId=loc["version_id"])
        assert holds == {"ON", None}  # seeds 211, 212 are Y (100 years and a legal hold), 213 is D10: both kinds of lock travel
        packages, anchors = versions(s3, archive, "packages/"), versions(s3, archive, "anchors/")
        assert len(packages) == 3 and anchors
        assert versions(s3, replica, "packages/") == packages and versions(s3, replica, "anchors/") == anchors
        reports = versions(s3, cloud.name("ReportsBucket"), "")
        assert reports and versions(s3, replica, "") == versions(s3, archive, "") | reports  # nothing else there, nothing missing

        # -- the night's backup of every table that holds records
        ddb = cloud.client("dynamodb")
        names = dict(cloud.resolver.names)
        assert {"CatalogueTable", "EventLogTable", "FileMapTable", "TransferTable"} <= set(backed_up_tables(cloud.template))
        backups = back_up_tables(cloud.template, names, ddb)

        # -- the primary is lost: its tables and its archive bucket (a region, or the account, gone)
        for logical in backups:
            ddb.delete_table(TableName=names[logical])
        from moto.s3.models import s3_backends

        from earchive_devtools.template import ACCOUNT

        s3_backends[ACCOUNT]["aws"].buckets.pop(archive)  # gone with its locks, as only an account's closure can do
        s3_backends.bucket_accounts.pop(archive, None)
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=archive)

        # -- restore (ADR 0018): the tables from their backup; the archive read from the replica, by the same versions
        restore_tables(backups, names, ddb)
        svc = TransferService({**names, **cloud.state_machines, "ArchiveBucket": replica})
        for code in codes:
            item = svc.aws.catalogue.get(code)
            assert item["status"] == "ARCHIVED"
            loc = item["archive"]
            path = tmp_path / "restored" / Path(loc["key"]).name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=replica, Key=loc["key"], VersionId=loc["version_id"])["Body"].read())
            assert hashlib.sha256(path.read_bytes()).hexdigest() == item["package_sha256"]
            assert check_package(path).passed  # sealed evidence: the seal and timestamp still verify
        anchored = svc.aws.anchors.streams()
        assert len(anchored) >= 3
        assert verify_event_log(svc, anchored) == {name: [] for name in anchored}


BREAK_GLASS = "arn:aws:iam::123456789012:role/earchive-break-glass"


def test_only_the_break_glass_role_can_delete_disable_or_re_policy_a_key_and_every_attempt_matches_the_alarms_rule(earchive_home):
    import boto3

    cloud = LocalCloud()
    cloud.resolver.params["BreakGlassRoleArn"] = BREAK_GLASS
    with cloud:
        kms = cloud.client("kms")
        data_key, seal_key = cloud.name("DataKey"), cloud.name("SealKey")

        def as_role(name: str):
            creds = cloud.client("sts").assume_role(RoleArn=f"arn:aws:iam::123456789012:role/{name}", RoleSessionName="operator")["Credentials"]
            return boto3.client("kms", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                                aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])

        for client in (kms, as_role("earchive-admin")):  # the functions' and operators' credentials, an administrator's role
            for key in (data_key, seal_key):
                for call in (lambda c, k: c.schedule_key_deletion(KeyId=k, PendingWindowInDays=7), lambda c, k: c.disable_key(KeyId=k),
                             lambda c, k: c.put_key_policy(KeyId=k, PolicyName="default", Policy='{"Version": "2012-10-17", "Statement": []}')):
                    with pytest.raises(ClientError) as refused:
                        call(client, key)
                    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert kms.describe_key(KeyId=data_key)["KeyMetadata"]["KeyState"] == "Enabled"
        glass = as_role("earchive-break-glass")
        glass.disable_key(KeyId=seal_key)
        glass.enable_key(KeyId=seal_key)
        glass.schedule_key_deletion(KeyId=data_key, PendingWindowInDays=30)
        assert kms.describe_key(KeyId=data_key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
        glass.cancel_key_deletion(KeyId=data_key)  # within the 30 days the alarm gives

        # a refused attempt, as CloudTrail delivers it to EventBridge (no `resources`: the call failed), matches the rule
        pattern = json.dumps(cloud.resolver.value(cloud.template["Resources"]["KeyEventsRule"]["Properties"]["EventPattern"]))
        arn = kms.describe_key(KeyId=data_key)["KeyMetadata"]["Arn"]
        event = {"version": "0", "id": "1", "source": "aws.kms", "detail-type": "AWS API Call via CloudTrail", "account": "123456789012",
                 "time": "2026-12-06T02:00:00Z", "region": "us-east-1", "resources": [],
                 "detail": {"eventSource": "kms.amazonaws.com", "eventName": "DisableKey", "errorCode": "AccessDenied",
                            "requestParameters": {"keyId": arn}, "userIdentity": {"arn": "arn:aws:sts::123456789012:assumed-role/earchive-admin/operator"}}}
        from moto.events.models import EventPattern  # moto's EventBridge matcher (moto has no TestEventPattern)

        rule = EventPattern.load(pattern)
        assert rule.matches_event(event)
        event["detail"]["requestParameters"]["keyId"] = seal_key  # by key id
        assert rule.matches_event(event)
        event["detail"]["requestParameters"]["keyId"] = "11111111-2222-3333-4444-555555555555"  # another key of the account
        assert not rule.matches_event(event)
        event["detail"].update(eventName="Encrypt", requestParameters={"keyId": arn})  # everyday use is not an alarm
        assert not rule.matches_event(event)


def test_a_china_stack_in_beijing_keeps_its_second_copy_in_ningxia(earchive_home):
    import datetime as dt

    with LocalCloud(mode="china", second_copy=True) as cloud:
        s3, archive, replica = cloud.client("s3"), cloud.name("ArchiveBucket"), cloud.replica["ReplicaBucketName"]
        assert cloud.region == "cn-north-1" and s3.get_bucket_location(Bucket=replica)["LocationConstraint"] == "cn-northwest-1"
        (rule,) = s3.get_bucket_replication(Bucket=archive)["ReplicationConfiguration"]["Rules"]
        assert rule["Destination"]["Bucket"] == f"arn:aws-cn:s3:::{replica}"
        assert rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"].startswith("arn:aws-cn:kms:cn-northwest-1:")
        until = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)
        v = s3.put_object(Bucket=archive, Key="anchors/x/00000001.json", Body=b"{}", ObjectLockMode="COMPLIANCE",
                          ObjectLockRetainUntilDate=until, ChecksumAlgorithm="SHA256")["VersionId"]
        copy = s3.head_object(Bucket=replica, Key="anchors/x/00000001.json", VersionId=v)
        assert (copy["ReplicationStatus"], copy["ObjectLockMode"], copy["ObjectLockRetainUntilDate"]) == ("REPLICA", "COMPLIANCE", until)
