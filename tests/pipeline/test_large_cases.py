"""A case larger than the function's working space is archived, not refused (issue 12, ADR 0015).

The limit is configured small (``EARCHIVE_STREAM_ABOVE`` = 1 MiB, S3 parts of 5 MiB), so a 20 MB
case takes the path a 12 GB one takes on Lambda. Its two scanned PDFs of 9 MiB are over the check's
8 MiB in-memory limit, so they are parsed from S3 ranges too. Pack writes into a multipart upload;
Seal copies the members server-side and writes only the seal and a new directory; Check reads the
package by ranged GETs, and so does the receiving check after transfer. Any use of /tmp by those
states fails the test.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from earchive.check import check_package
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

MiB = 1024**2


@pytest.fixture
def cloud(earchive_home, monkeypatch):
    monkeypatch.setenv("EARCHIVE_STREAM_ABOVE", str(MiB))
    with LocalCloud() as c:
        yield c


def _read_as_a_stream(raw: bytes) -> dict[str, int]:
    """Walk the package from byte 0 by its local headers alone, as Java's ZipInputStream does: {name: CRC}.

    Only a local header that carries the CRC and sizes lets such a reader find the next entry (a
    stored member with a data descriptor is refused); every stored member's bytes must match its CRC.
    """
    found, pos = {}, 0
    while raw[pos:pos + 4] == b"PK\x03\x04":
        flags, method = struct.unpack_from("<HH", raw, pos + 6)
        crc, csize, usize, name_len, extra_len = struct.unpack_from("<IIIHH", raw, pos + 14)
        assert not flags & 0x08, "a data descriptor"
        name = raw[pos + 30:pos + 30 + name_len].decode("utf-8")
        extra = raw[pos + 30 + name_len:pos + 30 + name_len + extra_len]
        if csize == 0xFFFFFFFF:  # zip64: the sizes are in the extra field
            usize, csize = struct.unpack_from("<QQ", extra, 4)
        data = pos + 30 + name_len + extra_len
        if method == zipfile.ZIP_STORED:
            assert zlib.crc32(raw[data:data + csize]) == crc and csize == usize, name
        found[name], pos = crc, data + csize
    assert raw[pos:pos + 4] == b"PK\x01\x02", f"the entries end at {pos}, not at the central directory"
    return found


def _no_tmp(settings, name):
    raise AssertionError(f"{name} used /tmp for a case that was to be streamed")


def test_a_case_larger_than_the_working_space_is_archived_through_s3(cloud, tmp_path, monkeypatch):
    import earchive.aws.s3 as s3_adapter
    import earchive.aws.s3_files as s3_files
    from earchive.pipeline.archive import check, pack, seal

    monkeypatch.setattr(s3_files, "STREAM_PART_SIZE", 5 * MiB)  # three parts, as a 12 GB case has two hundred
    monkeypatch.setattr(s3_adapter, "COPY_PART_SIZE", 5 * MiB)  # Seal's server-side copy in parts too, the short one folded
    for step in (pack, seal, check):
        monkeypatch.setattr(step, "workdir", _no_tmp)
    sent: list[int] = []
    real_upload_part = s3_files.S3PartWriter._send
    monkeypatch.setattr(s3_files.S3PartWriter, "_send", lambda self, part, body: (sent.append(len(body)), real_upload_part(self, part, body))[1])

    case = sample_case(tmp_path / "cases", seed=1201, files=8, size_mb=9, big_files=2)  # two PDFs over 8 MiB: parsed from S3 ranges
    damaged = sample_case(tmp_path / "cases", seed=1202, files=4, size_mb=6, defect="digest")  # fails half-way through Pack
    cloud.upload(zip_case(case.folder, tmp_path / "big.zip"))
    cloud.upload(zip_case(damaged.folder, tmp_path / "damaged.zip"))
    results = cloud.wait(cloud.dispatch(wait=0.5), timeout=240)
    result = next(r for r in results.values() if case.project_id in r.get("output", "") or r["status"] == "SUCCEEDED")
    assert result["status"] == "SUCCEEDED", result.get("cause")
    (refused,) = [r for r in results.values() if r is not result]
    assert refused["status"] == "FAILED" and refused["error"] == "Rejected", refused
    report = json.loads(cloud.client("s3").get_object(Bucket=cloud.name("IntakeBucket"), Key="damaged.zip.rejected.json")["Body"].read())
    assert report["stage"] == "pack" and report["problems"][0]["rule"] == "MATERIAL-DIGEST", report
    out = json.loads(result["output"])
    item = cloud.catalogue().get(out["record_code"])
    assert item["status"] == "ARCHIVED" and item["check_passed"] is True
    assert sent.count(5 * MiB) == 3 and len(sent) == 4, sent  # in 5 MiB parts (the damaged case failed before its first part left)

    loc = out["archive"]
    s3 = cloud.client("s3")
    head = s3.head_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    local = tmp_path / Path(loc["key"]).name
    local.write_bytes(s3.get_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["Body"].read())
    assert local.stat().st_size > 18 * MiB and int(item["package_size"]) == local.stat().st_size
    report = check_package(local)  # the archived package verifies offline, like any other
    assert report.passed, report.failures
    with zipfile.ZipFile(local) as zf:
        members = {i.filename: i for i in zf.infolist()}
    materials = [i for i in members.values() if "/" in i.filename]
    assert materials and not any(i.flag_bits & 0x08 for i in members.values()), "complete local headers, no data descriptors"
    assert _read_as_a_stream(local.read_bytes()) == {i.filename: i.CRC for i in members.values()}
    assert {"manifest-sm3.txt", "manifest-sha256.txt.p7s", "manifest-sha256.txt.p7s.tsr"} <= set(members)
    assert s3.list_objects_v2(Bucket=cloud.name("StagingBucket")).get("KeyCount", 0) == 0
    assert not s3.list_multipart_uploads(Bucket=cloud.name("StagingBucket")).get("Uploads"), "the refused case's upload was aborted"

    # transferred: the receiving check reads it in S3 too (the copy is as large as the package)
    from earchive.client import Selection, TransferService
    from earchive.pipeline.transfer import receive_check

    monkeypatch.setattr(receive_check, "workdir", _no_tmp)
    svc = TransferService.from_cloud(cloud)
    code = out["record_code"]
    register(svc)
    bid = svc.create(Selection(package_ids=(code,)), institution="430102001", institution_name="芙蓉区行政审批服务局", transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    receipt = svc.transfers.package(bid, code)["receipt"]
    assert receipt["passed"] is True, receipt["failed"]

    # every call the streamed path makes (multipart, part copies, ranged reads, the abort) is granted by the template
    from earchive_devtools.localcloud import recorded_calls
    from tests.pipeline.test_iam_exercised import allowed, grants, needed

    functions = {cloud.name(logical): logical for logical in ("PackFunction", "SealFunction", "CheckFunction", "TransferReceiveCheckFunction")}
    calls = [c for c in recorded_calls() if c[0] in functions]
    ops = {(functions[c[0]], c[2]) for c in calls}
    assert {("PackFunction", "UploadPart"), ("PackFunction", "AbortMultipartUpload"), ("SealFunction", "UploadPartCopy")} <= ops, ops
    missing = {f"{functions[name]}: {action} on {resource}" for name, service, op, params in calls
               for action, resource, leading in needed(service, op, params)
               if not allowed(grants(cloud, functions[name]), action, resource, leading, cloud)}
    assert not missing, "calls the template does not grant:\n" + "\n".join(sorted(missing))


def test_append_copy_folds_a_short_last_part_into_the_one_before(cloud, monkeypatch):
    """Every part but the last must be 5 MiB or more; the seal's tail is that last part."""
    import earchive.aws.s3 as s3_adapter
    from earchive.pipeline.runtime import Runtime

    monkeypatch.setattr(s3_adapter, "COPY_PART_SIZE", 5 * MiB)
    rt = Runtime.from_env()
    bucket = cloud.name("StagingBucket")
    body = bytes(range(256)) * (12 * MiB // 256)
    rt.aws.s3.put(bucket, "t/original", body)
    copies: list[str] = []
    client = rt.aws.s3.client
    real = client.upload_part_copy
    monkeypatch.setattr(client, "upload_part_copy", lambda **kw: (copies.append(kw["CopySourceRange"]), real(**kw))[1])
    size = rt.aws.s3.append_copy(bucket, "t/original", "t/appended", 12 * MiB - 100, b"TAIL")
    assert copies == [f"bytes=0-{5 * MiB - 1}", f"bytes={5 * MiB}-{12 * MiB - 101}"]
    assert rt.aws.s3.get_bytes(bucket, "t/appended") == body[:12 * MiB - 100] + b"TAIL" and size == 12 * MiB - 96
    with pytest.raises(ValueError, match="small enough to download"):
        rt.aws.s3.append_copy(bucket, "t/original", "t/x", MiB, b"")
