"""S3 answers a function's reads as its role in template.yaml would (issue 22, F10), on the local cloud.

moto answers every read as the bucket's owner, so a missing grant showed only on AWS: the console's HEAD of a reply's
``.refused.json`` (no GetObject there: 403, a 500 when a receiver signs again after a refusal), and a list or receipt not
written yet (a ListBucket grant conditioned on ``s3:prefix`` does not count for a GET or HEAD: 403, not 404).
``earchive_devtools.localcloud._s3_answers_as_iam`` judges each GetObject/HeadObject a function makes by its statements.
"""

from __future__ import annotations

import json

import pytest

from earchive_devtools.iam import allows, statements
from earchive_devtools.localcloud import REGION, LocalCloud

pytestmark = pytest.mark.slow  # the local cloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def probe(event, context):
    """Stands in for a function's code: HEAD and GET one key with a client the function made, as its code would."""
    import boto3
    from botocore.exceptions import ClientError

    s3 = boto3.client("s3", region_name=REGION)
    out = {}
    for op, fn in (("head", s3.head_object), ("get", s3.get_object)):
        try:
            fn(Bucket=event["bucket"], Key=event["key"])
            out[op] = 200
        except ClientError as exc:
            out[op] = int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
            out[op + "_code"] = exc.response["Error"]["Code"]
    return out


def read_as(cloud: LocalCloud, logical: str, bucket: str, key: str) -> dict:
    cloud.deploy(logical, probe)
    try:
        answer = cloud.client("lambda").invoke(FunctionName=cloud.name(logical), Payload=json.dumps({"bucket": bucket, "key": key}))
        return json.loads(answer["Payload"].read())
    finally:
        cloud.undeploy(logical)


def test_the_console_reads_refusals_and_missing_lists_answer_404_but_other_keys_403(cloud):
    s3, bucket = cloud.client("s3"), cloud.name("TransferBucket")
    refusal = "institutions/430102001/replies/B-1/r-1.refused.json"
    s3.put_object(Bucket=bucket, Key=refusal, Body=b"{}")
    s3.put_object(Bucket=bucket, Key="internal/batches/B-1/items.json", Body=b"[]")
    assert read_as(cloud, "ConsoleFunction", bucket, refusal) == {"head": 200, "get": 200}, "F10: a receiver signs again after a refusal"
    missing = read_as(cloud, "ConsoleFunction", bucket, "institutions/430102001/batches/B-1/transfer-list.pdf")
    assert missing["head"] == 404 and missing["get"] == 404 and missing["get_code"] == "NoSuchKey", "a printed list not written yet"
    for key in ("internal/batches/B-1/items.json", "internal/batches/B-2/items.json"):  # no GetObject there: 403, there or not
        denied = read_as(cloud, "ConsoleFunction", bucket, key)
        assert denied["head"] == 403 and denied["get"] == 403 and denied["get_code"] == "AccessDenied", (key, denied)
    assert read_as(cloud, "ConsoleFunction", bucket, "institutions/430102001/replies/B-1/r-1.json")["head"] == 403, "replies: write only"


def test_without_list_bucket_a_missing_key_is_403_and_with_it_404(cloud):
    bucket = cloud.name("TransferBucket")
    # TransferReceiveCheck reads under institutions/* but may not list the transfer bucket: S3 will not say what is missing
    answer = read_as(cloud, "TransferReceiveCheckFunction", bucket, "institutions/430102001/batches/B-9/packages/none.zip")
    assert answer["head"] == 403 and answer["get"] == 403
    # RegisterFunction's S3ReadPolicy on the staging bucket includes ListBucket: S3 says what is missing
    assert read_as(cloud, "RegisterFunction", cloud.name("StagingBucket"), "none/none.zip") == {
        "head": 404, "get": 404, "get_code": "NoSuchKey", "head_code": "404"}
    assert read_as(cloud, "RegisterFunction", cloud.name("ArchiveBucket"), "packages/none.zip")["head"] == 403, "no read there"


def test_a_list_bucket_grant_conditioned_on_s3_prefix_does_not_count_for_a_get_and_if_exists_does(cloud):
    console = statements(cloud.template, cloud.resolver, "ConsoleFunction")
    arn = cloud.resolver.arns["TransferBucket"]
    assert allows(console, "s3:ListBucket", arn), "the template's grant counts for a GET or HEAD (no s3:prefix)"
    assert allows(console, "s3:ListBucket", arn, {"s3:prefix": "institutions/430102001/"})
    assert not allows(console, "s3:ListBucket", arn, {"s3:prefix": "internal/"}), "a listing stays within institutions/"
    before = [{**st, "Condition": {"StringLike": st["Condition"]["StringLikeIfExists"]}} if st.get("Condition") else st for st in console]
    assert not allows(before, "s3:ListBucket", arn), "as it was before issue 22: a missing key answered 403"
