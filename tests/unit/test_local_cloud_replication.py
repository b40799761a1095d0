"""The local cloud's S3 replication (earchive_devtools.replication) keeps to what S3 documents, on plain moto.

The end-to-end run is tests/pipeline/test_second_copy.py; here the rules one at a time: same version and lock, the
destination's default retention for an unlocked version, SSE-KMS only when the rule opts in, a destination without
Object Lock refused for a locked version, a multipart upload replicated once complete, a later lock carried over.
"""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from earchive_devtools.replication import install, replication_configuration


def rule(dest: str, *, kms: bool) -> dict:
    r = {"Id": "second-copy", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""}, "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": f"arn:aws:s3:::{dest}", "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": "15"}}}}
    if kms:
        r["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        r["Destination"]["EncryptionConfiguration"] = {"ReplicaKmsKeyID": "arn:aws:kms:us-west-2:123456789012:key/replica"}
    return r


@pytest.fixture
def s3():
    with mock_aws():
        install()
        c = boto3.client("s3", region_name="us-east-1")
        for name, region, lock in (("src", "us-east-1", True), ("dst", "us-west-2", True), ("plain", "us-west-2", False)):
            kw = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            c.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock, **kw)
            c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        c.put_object_lock_configuration(Bucket="dst", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 3650}}})
        yield c


def configure(s3, dest: str, *, kms: bool = False) -> None:
    s3.put_bucket_replication(Bucket="src", ReplicationConfiguration=replication_configuration(
        {"Role": "arn:aws:iam::123456789012:role/earchive-local-archive-replication", "Rules": [rule(dest, kms=kms)]}))


def test_the_same_version_arrives_with_its_lock_and_legal_hold(s3):
    configure(s3, "dst")
    until = dt.datetime(2126, 1, 1, tzinfo=dt.UTC)
    v = s3.put_object(Bucket="src", Key="packages/a.zip", Body=b"pkg", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until,
                      ObjectLockLegalHoldStatus="ON", ChecksumAlgorithm="SHA256")["VersionId"]
    copy = s3.head_object(Bucket="dst", Key="packages/a.zip", VersionId=v)
    assert copy["ReplicationStatus"] == "REPLICA" and s3.head_object(Bucket="src", Key="packages/a.zip")["ReplicationStatus"] == "COMPLETED"
    assert (copy["ObjectLockMode"], copy["ObjectLockRetainUntilDate"], copy["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", until, "ON")
    assert s3.get_object(Bucket="dst", Key="packages/a.zip", VersionId=v)["Body"].read() == b"pkg"


def test_an_unlocked_version_gets_the_destinations_default_retention(s3):
    configure(s3, "dst")
    s3.put_object(Bucket="src", Key="anchors/x.json", Body=b"{}", ChecksumAlgorithm="SHA256")
    copy = s3.head_object(Bucket="dst", Key="anchors/x.json")
    assert copy["ObjectLockMode"] == "COMPLIANCE" and copy["ObjectLockRetainUntilDate"].year >= dt.datetime.now(dt.UTC).year + 9


def test_sse_kms_objects_are_left_out_unless_the_rule_opts_in(s3):
    s3.put_bucket_encryption(Bucket="src", ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    configure(s3, "dst")
    s3.put_object(Bucket="src", Key="packages/k.zip", Body=b"k", ChecksumAlgorithm="SHA256")
    assert "ReplicationStatus" not in s3.head_object(Bucket="src", Key="packages/k.zip")
    assert s3.list_object_versions(Bucket="dst").get("Versions") is None
    configure(s3, "dst", kms=True)
    s3.put_object(Bucket="src", Key="packages/k.zip", Body=b"k2", ChecksumAlgorithm="SHA256")
    copy = s3.head_object(Bucket="dst", Key="packages/k.zip")
    assert copy["SSEKMSKeyId"].endswith("key/replica") and copy["ReplicationStatus"] == "REPLICA"


def test_a_locked_version_fails_into_a_bucket_without_object_lock(s3):
    configure(s3, "plain")
    s3.put_object(Bucket="src", Key="packages/b.zip", Body=b"b", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=dt.datetime(2040, 1, 1, tzinfo=dt.UTC), ChecksumAlgorithm="SHA256")
    assert s3.head_object(Bucket="src", Key="packages/b.zip")["ReplicationStatus"] == "FAILED"
    assert s3.list_object_versions(Bucket="plain").get("Versions") is None


def test_a_multipart_upload_replicates_once_complete_and_a_later_lock_follows(s3):
    configure(s3, "dst")
    up = s3.create_multipart_upload(Bucket="src", Key="packages/big.zip", Metadata={"sha256": "abc"})["UploadId"]
    etag = s3.upload_part(Bucket="src", Key="packages/big.zip", UploadId=up, PartNumber=1, Body=b"x" * 10)["ETag"]
    v = s3.complete_multipart_upload(Bucket="src", Key="packages/big.zip", UploadId=up,
                                     MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})["VersionId"]
    assert s3.head_object(Bucket="dst", Key="packages/big.zip", VersionId=v)["Metadata"] == {"sha256": "abc"}
    until = dt.datetime(2126, 1, 1, tzinfo=dt.UTC)
    s3.put_object_retention(Bucket="src", Key="packages/big.zip", VersionId=v, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    s3.put_object_legal_hold(Bucket="src", Key="packages/big.zip", VersionId=v, LegalHold={"Status": "ON"})
    copy = s3.head_object(Bucket="dst", Key="packages/big.zip", VersionId=v)
    assert (copy["ObjectLockRetainUntilDate"], copy["ObjectLockLegalHoldStatus"]) == (until, "ON")
    assert len(s3.list_object_versions(Bucket="dst")["Versions"]) == 1  # one replica per version
