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
            with pytest.raises(ClientError):  # the replica is as undeletable as the original
                s3.delete_object(Bucket=replica, Key=loc["key"], VersionId=loc["version_id"])
        assert holds == {"ON", None}  # seeds 211, 212 are Y (100 years and a legal hold), 213 is D10: both kinds of lock travel
        packages, anchors = versions(s3, archive, "packages/"), versions(s3, archive, "anchors/")
        assert len(packages) == 3 and anchors
        assert versions(s3, replica, "packages/") == packages and versions(s3, replica, "anchors/") == anchors
        assert versions(s3, replica, "") == versions(s3, archive, "")  # nothing else there, nothing missing

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
