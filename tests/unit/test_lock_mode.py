"""The Object Lock mode comes from the stack (LockMode → EARCHIVE_LOCK_MODE → Settings → the S3 adapter), issue 22 F18."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from earchive.aws.s3 import Objects
from earchive.config import Settings
from earchive.domain.retention import retention_for

UNTIL = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive", ObjectLockEnabledForBucket=True)
        yield client


def test_the_setting_is_read_from_the_environment_and_production_is_compliance():
    assert Settings().lock_mode == "COMPLIANCE"
    assert Settings.from_env({"EARCHIVE_LOCK_MODE": "GOVERNANCE"}).lock_mode == "GOVERNANCE"
    assert retention_for("D10", 2026, dt.datetime(2026, 12, 6, tzinfo=dt.UTC)).mode == "COMPLIANCE"
    assert retention_for("Y", 2026, dt.datetime(2026, 12, 6, tzinfo=dt.UTC), mode="GOVERNANCE").mode == "GOVERNANCE"


def test_the_adapter_locks_in_the_mode_it_is_given(s3):
    for mode in ("COMPLIANCE", "GOVERNANCE"):
        objects = Objects(s3, lock_mode=mode)
        version = objects.put_locked("archive", f"anchors/{mode}.json", b"{}", UNTIL)
        assert s3.head_object(Bucket="archive", Key=f"anchors/{mode}.json", VersionId=version)["ObjectLockMode"] == mode
    assert Objects(s3).lock_mode == "COMPLIANCE"
    with pytest.raises(ValueError, match="GOVERNANCE"):
        Objects(s3, lock_mode="compliance ")


def test_ensure_lock_sets_the_stacks_mode_and_takes_a_stronger_lock_as_it_is(s3):
    governance = Objects(s3, lock_mode="GOVERNANCE")
    plain = s3.put_object(Bucket="archive", Key="packages/a.zip", Body=b"PK")["VersionId"]
    assert governance.ensure_lock("archive", "packages/a.zip", plain, UNTIL, False)["ObjectLockMode"] == "GOVERNANCE"
    strong = Objects(s3).put_locked("archive", "packages/b.zip", b"PK", UNTIL)  # COMPLIANCE: stronger, and nobody may weaken it
    assert governance.ensure_lock("archive", "packages/b.zip", strong, UNTIL, False)["ObjectLockMode"] == "COMPLIANCE"
    weak = governance.put_locked("archive", "packages/c.zip", b"PK", UNTIL)
    compliance = Objects(s3)  # a production stack never accepts a GOVERNANCE lock as done
    assert compliance.ensure_lock("archive", "packages/c.zip", weak, UNTIL, False)["ObjectLockMode"] == "COMPLIANCE"
