"""A package in Glacier Deep Archive (ColdStorageAfterDays) is named as such, never a bare S3 error (issue 12).

Reading it (a material's preview, a receiving check) or copying it (a transfer) before it is restored gets
``ColdObject``: what it is, and that restore-object comes first. The console answers it as 409 with that text.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from earchive.aws.s3 import Objects, S3ReadFile
from earchive.errors import ColdObject
from earchive.rules_zh import RULES


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="archive-bucket")
        client.create_bucket(Bucket="transfer-bucket")
        client.put_object(Bucket="archive-bucket", Key="packages/cold.zip", Body=b"PK" + b"\0" * 200, StorageClass="DEEP_ARCHIVE")
        client.put_object(Bucket="archive-bucket", Key="packages/warm.zip", Body=b"PK" + b"\0" * 200)
        yield client


def test_reading_or_copying_a_frozen_package_says_restore_it_first(s3, tmp_path):
    objects = Objects(s3)
    reader = S3ReadFile(s3, "archive-bucket", "packages/cold.zip")  # its head is readable: size and storage class
    with pytest.raises(ColdObject, match="restore"):
        reader.read(10)
    with pytest.raises(ColdObject, match="深度归档"):
        objects.download("archive-bucket", "packages/cold.zip", tmp_path / "x.zip")
    with pytest.raises(ColdObject):
        objects.copy_locked("archive-bucket", "packages/cold.zip", "transfer-bucket", "institutions/i/batches/b/packages/cold.zip", {})
    assert S3ReadFile(s3, "archive-bucket", "packages/warm.zip").read(2) == b"PK", "a package in S3 Standard reads as before"
    assert "恢复" in RULES["ColdObject"][0] and RULES["ColdObject"][2] == "system", "the report says it in Chinese, for the operators"
