"""The happy path: sample case → pack → verify, checked with stock tools too."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from earchive.check import CATALOGUE, CheckOptions, check_package
from earchive.check.virus import make_scanner
from earchive.crypto.pki import DevPKI
from earchive.domain.layout import MANIFEST_SHA256, METADATA_NAME, RECORD_CODE_RE, SIGNATURE, TIMESTAMP
from earchive.domain.pack import pack
from earchive_devtools.sample import sample_case, zip_case


def test_package_is_named_by_record_code_and_laid_out(packed):
    case, result = packed
    assert RECORD_CODE_RE.match(result.record_code)
    assert result.path.name == f"{result.record_code}.zip"
    assert result.record_code.startswith(f"{case.case['region_code']}-{case.case['fonds_identifier']}-{case.case['task_code']}-2026-")
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
        infos = {i.filename: i for i in zf.infolist()}
    assert METADATA_NAME in names and MANIFEST_SHA256 in names and SIGNATURE in names and TIMESTAMP in names
    content = [n for n in names if "/" in n]
    assert len(content) == 8
    assert {n.split("/")[0] for n in content} == {"申报文件", "过程文件", "结果文件"}
    # stable order: folder order, then 件内顺序号
    order = [("申报文件", "过程文件", "结果文件").index(n.split("/")[0]) for n in content]
    assert order == sorted(order)
    for n in content:
        assert infos[n].flag_bits & 0x800, f"{n} lacks the UTF-8 flag"
        ext = n.rsplit(".", 1)[-1]
        expected = zipfile.ZIP_DEFLATED if ext == "xml" else zipfile.ZIP_STORED
        assert infos[n].compress_type == expected, n
    assert infos[METADATA_NAME].compress_type == zipfile.ZIP_DEFLATED


def test_archiving_check_passes_every_test(packed):
    _, result = packed
    report = check_package(result.path, CheckOptions(scanner=make_scanner("builtin")))
    assert report.passed, [r.as_dict() for r in report.failures]
    ids = [r.id for r in report.results]
    assert ids == [f"GD-{c}" for c in CATALOGUE], "every catalogue test reported once, in order"
    statuses = {r.id: r.status for r in report.results}
    assert statuses["GD-1-1-2"] == statuses["GD-1-1-3"] == statuses["GD-1-1-4"] == "pass"
    assert statuses["GD-4-1"] == "manual"  # dev signatures only: never auto-passed
    assert statuses["GD-4-4"] == "not_applicable"
    assert all(r.checked_at for r in report.results)


def test_receiving_stage_uses_yj_ids_and_checks_package_digest(packed):
    import hashlib

    _, result = packed
    digest = hashlib.new("sm3", result.path.read_bytes()).hexdigest()
    report = check_package(result.path, CheckOptions(stage="receiving", expected_digest=("SM3", digest)))
    assert report.passed
    assert all(r.id.startswith("YJ-") for r in report.results)
    assert {r.id: r.status for r in report.results}["YJ-1-14"] == "pass"
    bad = check_package(result.path, CheckOptions(stage="receiving", expected_digest=("SM3", "0" * 64)))
    assert not bad.passed
    assert [r.id for r in bad.failures] == ["YJ-1-14"]
    # a digest measured by the caller while writing the file (e.g. while downloading) is used, not re-read
    measured = check_package(result.path, CheckOptions(stage="receiving", expected_digest=("SM3", digest), measured_digests={"SM3": digest}))
    assert measured.passed
    lying = check_package(result.path, CheckOptions(stage="receiving", expected_digest=("SM3", digest), measured_digests={"SM3": "1" * 64}))
    assert [r.id for r in lying.failures] == ["YJ-1-14"]


def _extract(package: Path, into: Path) -> Path:
    with zipfile.ZipFile(package) as zf:
        zf.extractall(into)
    return into


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_manifest_checks_with_sha256sum(packed, tmp_path):
    _, result = packed
    folder = _extract(result.path, tmp_path / "x")
    out = subprocess.run(["sha256sum", "-c", MANIFEST_SHA256], cwd=folder, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": OK") == 10  # metadata + 8 files + SM3 manifest


def test_signature_and_timestamp_verify_with_openssl(packed, tmp_path):
    _, result = packed
    folder = _extract(result.path, tmp_path / "x")
    ca = DevPKI().ca_path
    cms = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", SIGNATURE, "-content", MANIFEST_SHA256,
         "-CAfile", str(ca), "-out", "/dev/null"], cwd=folder, capture_output=True, text=True)
    assert cms.returncode == 0 and "Verification successful" in cms.stderr, cms.stderr
    ts = subprocess.run(["openssl", "ts", "-verify", "-data", SIGNATURE, "-in", TIMESTAMP, "-CAfile", str(ca)],
                        cwd=folder, capture_output=True, text=True)
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    # and a changed manifest fails the same stock check
    (folder / MANIFEST_SHA256).write_bytes((folder / MANIFEST_SHA256).read_bytes() + b"\n")
    cms = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", SIGNATURE, "-content", MANIFEST_SHA256,
         "-CAfile", str(ca), "-out", "/dev/null"], cwd=folder, capture_output=True, text=True)
    assert cms.returncode != 0


def test_zip_bundle_with_gbk_names_packs_with_right_names(tmp_path, signer, tsa):
    case = sample_case(tmp_path / "cases", seed=11, defect="gbk-names")
    bundle = zip_case(case.folder, tmp_path / "bundle.zip", gbk_names=True)
    with zipfile.ZipFile(bundle) as zf:
        raw = [i for i in zf.infolist() if not i.orig_filename.isascii()]
        assert raw and all(not i.flag_bits & 0x800 for i in raw), "fixture must be GBK without the UTF-8 flag"
    result = pack(bundle, tmp_path / "out", signer=signer, tsa=tsa)
    members = [f["member"] for f in result.files]
    task_name = case.case["task_name"]
    assert f"申报文件/001-{task_name}申请表（扫描件）.pdf" in members
    assert all("╫" not in m and "\ufffd" not in m for m in members), "no cp437 mojibake"
    assert check_package(result.path).passed


def test_repacking_the_same_case_gets_the_same_code_and_refuses_to_overwrite(tmp_path, signer, tsa):
    from earchive.errors import EarchiveError

    case = sample_case(tmp_path / "cases", seed=12)
    first = pack(case.folder, tmp_path / "out", signer=signer, tsa=tsa)
    with pytest.raises(EarchiveError) as exc:
        pack(case.folder, tmp_path / "out", signer=signer, tsa=tsa)
    assert exc.value.rule == "OUTPUT-EXISTS"
    again = pack(case.folder, tmp_path / "out", signer=signer, tsa=tsa, overwrite=True)
    assert again.record_code == first.record_code
    other = pack(sample_case(tmp_path / "cases2", seed=13).folder, tmp_path / "out", signer=signer, tsa=tsa, serial=42)
    assert other.record_code.endswith("-000042")
