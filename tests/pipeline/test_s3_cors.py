"""The local S3 endpoint answers browsers' CORS preflights as S3 does (issue 22, F4), and the local cloud gives the staging bucket
the template's CorsConfiguration: the console's origin may PUT, no other origin, method or header may.

moto's server alone answers a preflight for a bucket without CORS 200 (any origin) and echoes any Origin on every answer;
``earchive_devtools.localcloud._strict_s3_cors`` makes it S3's. What the browser then does with these answers is
tested in Chromium (tests/pipeline/test_console_origins.py).
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.server import start_moto_server

pytestmark = pytest.mark.slow  # a moto server and the whole template
CONSOLE = "https://console.example.gov.cn"


@pytest.fixture(scope="module")
def cloud(earchive_home):
    server, endpoint = start_moto_server()
    cloud = LocalCloud(endpoint=endpoint)
    cloud.resolver.params["ConsoleUrl"] = f"{CONSOLE}/"
    cloud.start()
    yield cloud
    cloud.stop()
    server.stop()


def preflight(cloud, bucket: str, origin: str | None, method: str = "PUT", headers: str = "content-type") -> tuple[int, dict[str, str]]:
    ask = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers} | ({"Origin": origin} if origin else {})
    req = urllib.request.Request(f"{cloud.endpoint}/{bucket}/console-uploads/x.pdf", method="OPTIONS", headers=ask)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def test_the_staging_bucket_takes_the_templates_cors_rule(cloud):
    rules = cloud.client("s3").get_bucket_cors(Bucket=cloud.name("StagingBucket"))["CORSRules"]
    assert rules == [{"AllowedOrigins": [CONSOLE], "AllowedMethods": ["PUT"], "AllowedHeaders": ["content-type"], "MaxAgeSeconds": 3000}]
    for other in ("IntakeBucket", "ArchiveBucket", "TransferBucket", "ReportsBucket"):  # the browser writes to no other bucket
        with pytest.raises(cloud.client("s3").exceptions.ClientError, match="NoSuchCORSConfiguration"):
            cloud.client("s3").get_bucket_cors(Bucket=cloud.name(other))


def test_the_consoles_origin_may_put_a_content_type(cloud):
    status, h = preflight(cloud, cloud.name("StagingBucket"), CONSOLE)
    assert status == 200 and h["access-control-allow-origin"] == CONSOLE and "PUT" in h["access-control-allow-methods"]
    assert h["access-control-allow-headers"] == "content-type" and h["access-control-max-age"] == "3000"


@pytest.mark.parametrize("bucket,origin,method,headers", [
    ("StagingBucket", "https://evil.example", "PUT", "content-type"),    # another origin
    ("StagingBucket", "http://console.example.gov.cn", "PUT", "content-type"),  # the same host over http is another origin
    ("StagingBucket", CONSOLE, "DELETE", ""),                             # a method the rule does not allow
    ("StagingBucket", CONSOLE, "PUT", "content-type,x-amz-acl"),          # a header the rule does not allow
    ("IntakeBucket", CONSOLE, "PUT", "content-type"),                     # a bucket without CORS: S3 says 403, moto said 200
])
def test_everything_else_is_refused_without_access_control_headers(cloud, bucket, origin, method, headers):
    status, h = preflight(cloud, cloud.name(bucket), origin, method, headers)
    assert status == 403 and not any(k.startswith("access-control-") for k in h), (status, h)


def test_a_request_from_another_origin_is_not_told_it_may_read_the_answer(cloud):
    s3 = cloud.client("s3")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": cloud.name("StagingBucket"), "Key": "console-uploads/y.txt"})
    for origin, allowed in (("https://evil.example", None), (CONSOLE, CONSOLE)):
        req = urllib.request.Request(url, method="PUT", data=b"x", headers={"Origin": origin})
        with urllib.request.urlopen(req) as r:
            assert r.headers.get("Access-Control-Allow-Origin") == allowed
