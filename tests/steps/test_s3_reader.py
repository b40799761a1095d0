"""Reading a package in S3 by ranges (ADR 0015): a dropped stream is reopened where it broke; one that keeps
failing is a retry of the step, never a damaged package (review of issue 12, finding 2)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

import earchive.aws.s3_files as s3_files
from earchive.aws.s3 import Objects
from earchive.check import check_package
from earchive.errors import TransientError

MiB = 1024**2


@pytest.fixture
def staged(packed, monkeypatch):
    """The session's sample package in a versioned moto bucket, read by ranges (WHOLE_BELOW lowered under its size)."""
    monkeypatch.setattr(s3_files, "WHOLE_BELOW", 1024)
    monkeypatch.setattr(s3_files.time, "sleep", lambda s: None)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="staging-bucket")
        client.put_bucket_versioning(Bucket="staging-bucket", VersioningConfiguration={"Status": "Enabled"})
        client.put_object(Bucket="staging-bucket", Key="sealed.zip", Body=packed[1].path.read_bytes())
        yield Objects(client), packed[1].path


class Flaky:
    """Breaks the first ``fails`` streams S3 hands out, after ``after`` bytes each, as a dropped connection would."""

    def __init__(self, fails: int, after: int):
        self.fails, self.after = fails, after

    def wrap(self, body):
        if self.fails <= 0:
            return body
        self.fails -= 1
        real = body.read

        after, done = self.after, [0]

        def read(n=-1):
            if done[0] >= after:
                raise ConnectionResetError("connection reset by peer")
            data = real(min(n, after - done[0]) if n and n > 0 else after - done[0])
            done[0] += len(data)
            return data

        body.read = read
        return body


def _flaky(objects: Objects, monkeypatch, fails: int, after: int) -> None:
    flaky, real = Flaky(fails, after), objects.client.get_object

    def get_object(**kw):
        out = real(**kw)
        out["Body"] = flaky.wrap(out["Body"])
        return out

    monkeypatch.setattr(objects.client, "get_object", get_object)


def test_a_dropped_stream_is_reopened_where_it_broke_and_the_check_passes(staged, monkeypatch):
    objects, packed = staged
    _flaky(objects, monkeypatch, fails=5, after=100)
    report = check_package(packed.name, source=lambda: objects.reader("staging-bucket", "sealed.zip"))
    assert report.passed, report.failures


def test_a_stream_that_keeps_failing_is_a_retry_not_a_damaged_package(staged, monkeypatch):
    objects, packed = staged
    _flaky(objects, monkeypatch, fails=10**6, after=0)  # S3 is down
    with pytest.raises(TransientError, match="connection reset"):
        check_package(packed.name, source=lambda: objects.reader("staging-bucket", "sealed.zip"))


def test_the_reader_never_mixes_the_bytes_of_two_versions(staged):
    """Pinned by ETag (If-Match): a write after the reader opened stops it loudly instead of feeding it other bytes."""
    from botocore.exceptions import ClientError

    objects, packed = staged
    reader = objects.reader("staging-bucket", "sealed.zip")
    assert reader.read(4) == packed.read_bytes()[:4]
    objects.client.put_object(Bucket="staging-bucket", Key="sealed.zip", Body=b"a newer version")
    reader.seek(1000)  # a new ranged GET
    with pytest.raises(ClientError, match=r"PreconditionFailed|412"):
        reader.read(4)


def test_has_versions_tells_a_new_key_from_one_with_versions_or_a_delete_marker(staged):
    """Store's first attempt at a record code asks once (HEAD) instead of listing the archive's versions."""
    objects, _ = staged
    client = objects.client
    assert objects.has_versions("staging-bucket", "sealed.zip") is True
    assert objects.has_versions("staging-bucket", "packages/never-stored.zip") is False
    client.put_object(Bucket="staging-bucket", Key="gone.zip", Body=b"x")
    client.delete_object(Bucket="staging-bucket", Key="gone.zip")  # a delete marker on top of a version
    assert objects.has_versions("staging-bucket", "gone.zip") is True
