"""Tampered, damaged and hostile packages: each fails the right test with a report, never a traceback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from earchive.check import CheckOptions, check_package
from earchive.check.virus import make_scanner
from earchive.domain.layout import METADATA_NAME, SIGNATURE, TIMESTAMP
from earchive.domain.pack import pack
from earchive_devtools.sample import sample_case
from tests.unit.test_hostile_bundles import set_encrypted_flag


def rewrite(package: Path, *, replace: dict[str, bytes] | None = None, drop: set[str] = frozenset(),
            add: dict[str, bytes] | None = None) -> Path:
    """Rebuild a package with some members changed (a tamperer with zip tools)."""
    replace, add = replace or {}, add or {}
    buf = io.BytesIO()
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, src.read(info))
            dst.writestr(info, data)
        for name, data in add.items():
            dst.writestr(name, data)
    package.write_bytes(buf.getvalue())
    return package


def failed_ids(report) -> set[str]:
    return {r.id for r in report.failures}


def first_member(package: Path, folder: str, ext: str) -> str:
    with zipfile.ZipFile(package) as zf:
        return next(n for n in zf.namelist() if n.startswith(folder) and n.endswith(ext))


def test_altered_content_fails_digests(package_copy):
    name = first_member(package_copy, "申报文件/", ".pdf")
    with zipfile.ZipFile(package_copy) as zf:
        data = bytearray(zf.read(name))
    data[200] ^= 0xFF
    rewrite(package_copy, replace={name: bytes(data)})
    report = check_package(package_copy)
    assert {"GD-1-1-1", "GD-1-10"} <= failed_ids(report)
    r = next(r for r in report.results if r.id == "GD-1-1-1")
    assert name in r.objects and "altered" in r.detail
    assert {r.id: r.status for r in report.results}["GD-1-1-2"] == "pass", "the signature over the manifest still holds"


def test_altered_manifest_fails_signature(package_copy):
    with zipfile.ZipFile(package_copy) as zf:
        manifest = zf.read("manifest-sha256.txt")
    rewrite(package_copy, replace={"manifest-sha256.txt": manifest.replace(b"  ", b"  ./", 1)})
    assert "GD-1-1-2" in failed_ids(check_package(package_copy))


def test_swapped_timestamp_fails(package_copy, packed, tmp_path, signer, tsa):
    other = pack(sample_case(tmp_path / "c", seed=77).folder, tmp_path / "o", signer=signer, tsa=tsa)
    with zipfile.ZipFile(other.path) as zf:
        foreign = zf.read(TIMESTAMP)
    rewrite(package_copy, replace={TIMESTAMP: foreign})
    report = check_package(package_copy)
    r = next(r for r in report.results if r.id == "GD-1-1-3")
    assert r.status == "fail" and "other data" in r.detail


def test_untrusted_ca_fails_chain(package_copy, tmp_path):
    from earchive.crypto.pki import DevPKI

    other_ca = DevPKI(tmp_path / "other-home").ca_path
    report = check_package(package_copy, CheckOptions(trust=__import__("earchive.crypto.pki", fromlist=["x"]).load_trust_anchors(other_ca)))
    assert failed_ids(report) == {"GD-1-1-4"}
    assert "untrusted" in next(r for r in report.results if r.id == "GD-1-1-4").detail


def test_missing_seal_files(package_copy):
    rewrite(package_copy, drop={SIGNATURE, TIMESTAMP})
    assert {"GD-1-1-2", "GD-1-1-3", "GD-2-10"} <= failed_ids(check_package(package_copy))


def test_eicar_is_caught(tmp_path, signer, tsa):
    result = pack(sample_case(tmp_path / "c", seed=31, defect="eicar").folder, tmp_path / "o", signer=signer, tsa=tsa)
    report = check_package(result.path, CheckOptions(scanner=make_scanner("builtin")))
    assert failed_ids(report) == {"GD-4-2"}
    r = next(r for r in report.results if r.id == "GD-4-2")
    assert "EICAR" in r.detail and r.objects and r.objects[0].startswith("申报文件/002-")


def test_eicar_split_across_chunk_boundary():
    from earchive.check.virus import BuiltinScanner
    from earchive_devtools.sample import EICAR

    session = BuiltinScanner().session()
    data = b"x" * 1000 + EICAR + b"y" * 1000
    for i in range(0, len(data), 7):  # every boundary position
        session.update(data[i:i + 7])
    assert session.hits == ["Earchive.Test.EICAR"]


def test_broken_pdf_fails_readability(tmp_path, signer, tsa):
    result = pack(sample_case(tmp_path / "c", seed=32, defect="bad-pdf").folder, tmp_path / "o", signer=signer, tsa=tsa)
    report = check_package(result.path)
    assert failed_ids(report) == {"GD-3-4"}
    assert next(r for r in report.results if r.id == "GD-3-4").objects[0].endswith(".pdf")


def test_renamed_file_fails_format(package_copy):
    """A JPEG's bytes under a .pdf name, with consistent digests (a sender's mistake, resealed)."""
    name = first_member(package_copy, "申报文件/", ".pdf")
    jpg = first_member(package_copy, "申报文件/", ".jpg")
    with zipfile.ZipFile(package_copy) as zf:
        jpeg = zf.read(jpg)
    rewrite(package_copy, replace={name: jpeg})
    report = check_package(package_copy)
    r = next(r for r in report.results if r.id == "GD-3-3")
    assert r.status == "fail" and "jpeg" in r.detail


def test_extra_and_missing_files(package_copy):
    name = first_member(package_copy, "结果文件/", ".xml")
    rewrite(package_copy, drop={name}, add={"过程文件/998-extra.pdf": b"%PDF-1.4\n%%EOF\n", "过程文件/999-extra.pdf": b"%PDF-1.4\n%%EOF\n",
                                                "notes.txt": b"hi"})
    failed = failed_ids(check_package(package_copy))
    assert {"GD-4-3", "GD-2-11", "GD-1-13", "GD-2-1", "GD-1-11"} <= failed


def test_encrypted_member_in_package(package_copy):
    name = first_member(package_copy, "申报文件/", ".jpg")
    set_encrypted_flag(package_copy, name)
    report = check_package(package_copy)
    assert {"GD-1-13", "GD-3-8"} <= failed_ids(report)


def test_metadata_value_problems(package_copy):
    with zipfile.ZipFile(package_copy) as zf:
        xml = zf.read(METADATA_NAME).decode()
    import re

    xml = re.sub(r"<retention_period>[^<]*<", "<retention_period>D50<", xml)
    xml = re.sub(r"<contacted_card>(\d{17})\w<", r"<contacted_card>\g<1>Z<", xml)  # breaks the check digit
    xml = xml.replace("<apply_name>", "<apply_name>\ufffd")
    rewrite(package_copy, replace={METADATA_NAME: xml.encode()})
    failed = failed_ids(check_package(package_copy))
    assert {"GD-1-4", "GD-1-5", "GD-1-6", "GD-1-12", "GD-1-1-1"} <= failed


@pytest.mark.parametrize("payload", [b"", b"garbage" * 100, b"PK\x03\x04" + b"\x00" * 200])
def test_garbage_is_a_failed_report_not_a_traceback(tmp_path, payload):
    p = tmp_path / "x.zip"
    p.write_bytes(payload)
    report = check_package(p)
    assert not report.passed
    assert next(r for r in report.results if r.id == "GD-1-13").status == "fail"


def test_truncated_package(package_copy):
    data = package_copy.read_bytes()
    package_copy.write_bytes(data[: len(data) // 2])
    assert not check_package(package_copy).passed


def test_missing_package_path(tmp_path):
    report = check_package(tmp_path / "none.zip")
    assert not report.passed and report.results


def test_copy_is_unchanged_by_check(package_copy):
    from tests.conftest import tree_digest

    before = tree_digest(package_copy)
    check_package(package_copy)
    assert tree_digest(package_copy) == before


def test_clamav_adapter_parses_and_places_findings(package_copy, tmp_path, monkeypatch):
    """Our integration with clamscan (command line, output parsing, attribution), with a stand-in binary.

    Real ClamAV needs a signature database these machines cannot download; see ADR 0004.
    """
    name = first_member(package_copy, "申报文件/", ".jpg")
    fake = tmp_path / "bin" / "clamscan"
    fake.parent.mkdir()
    log = tmp_path / "args.txt"
    fake.write_text(f"""#!/bin/sh
echo "$@" > {log}
for last; do true; done
echo "$last!{name}: Win.Test.EICAR_HDB-1 FOUND"
echo "$last: Heuristics.Encrypted.Zip FOUND"
exit 1
""", "utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")
    report = check_package(package_copy, CheckOptions(scanner=make_scanner("clamav:/var/lib/clamav")))
    r = next(r for r in report.results if r.id == "GD-4-2")
    assert r.status == "fail"
    args = log.read_text("utf-8")
    assert "--max-filesize=4000M" in args and "--database=/var/lib/clamav" in args, "ClamAV's 100 MB default would skip big files"
    assert next(r for r in report.results if r.id == "GD-4-1").status == "pass"
    assert "Heuristics.Encrypted.Zip" in r.detail and "Win.Test.EICAR_HDB-1" in r.detail and r.objects == [name]


def test_clamav_missing_is_a_failed_scan_not_a_pass(package_copy, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    report = check_package(package_copy, CheckOptions(scanner=make_scanner("clamav")))
    r = next(r for r in report.results if r.id == "GD-4-2")
    assert r.status == "fail" and "not installed" in r.detail
