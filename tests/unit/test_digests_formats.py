"""The one-pass digests and the format readers, on their own."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earchive.crypto.digests import StreamDigest, digest_stream
from earchive.domain.formats import check_readable, identify
from earchive_devtools.sample import jpeg_bytes, ofd_bytes, write_pdf


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=70_000), max_size=12))
def test_multidigest_equals_hashlib_for_any_chunking(chunks):
    md = StreamDigest()
    for c in chunks:
        md.update(c)
    whole = b"".join(chunks)
    assert md.hexdigests() == {"SM3": hashlib.new("sm3", whole).hexdigest(), "SHA-256": hashlib.sha256(whole).hexdigest()}
    assert md.size == len(whole)


def test_sm3_known_answer():
    md = StreamDigest()
    md.update(b"abc")
    assert md.hexdigests()["SM3"] == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905 A.1


def test_digest_stream_feeds_every_sink_in_order():
    data = bytes(range(256)) * 20_000
    seen = bytearray()
    digests, size = digest_stream(io.BytesIO(data), sinks=(seen.extend,), chunk_size=65_536)
    assert bytes(seen) == data and size == len(data)
    assert digests["SHA-256"] == hashlib.sha256(data).hexdigest()


def _pdf(lines=("办件编号：1",)) -> bytes:
    import random

    from earchive_devtools.sample import _HashingWriter

    buf = io.BytesIO()
    write_pdf(_HashingWriter(buf), "准予许可决定书", list(lines), 0, random.Random(1))
    return buf.getvalue()


def test_generated_pdf_opens_and_has_chinese_text():
    from pypdf import PdfReader

    data = _pdf(["申请人：张三"])
    assert identify(data[:16]) == "pdf"
    result = check_readable("x.pdf", lambda: io.BytesIO(data), data[-1024:])
    assert result.ok, result.detail
    assert "准予许可决定书" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_truncated_pdf_is_not_readable():
    data = _pdf()[:-200]
    result = check_readable("x.pdf", lambda: io.BytesIO(data), data[-1024:])
    assert not result.ok and "truncated" in result.detail


def test_ofd_structure_walk():
    data = ofd_bytes("准予许可决定书", ["一", "二"], "abc")
    assert check_readable("x.ofd", lambda: io.BytesIO(data), b"").ok
    # an OFD whose page is missing
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            if "Content.xml" not in info.filename:
                dst.writestr(info, src.read(info))
    broken = check_readable("x.ofd", lambda: io.BytesIO(buf.getvalue()), b"")
    assert not broken.ok and "Content.xml is missing" in broken.detail


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_jpeg_does_not_decode(cut):
    import random

    data = jpeg_bytes(random.Random(2), "x")
    assert check_readable("a.jpg", lambda: io.BytesIO(data), b"").ok
    short = data[: int(len(data) * cut)]
    assert not check_readable("a.jpg", lambda: io.BytesIO(short), b"").ok


def test_xml_with_entity_expansion_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>'
    result = check_readable("x.xml", lambda: io.BytesIO(bomb), b"")
    # parsed without expanding entities: readable, and nothing was expanded
    from lxml import etree

    from earchive.domain.metadata import safe_parser

    tree = etree.fromstring(bomb, safe_parser())
    assert "aaaaaaaaaa" not in (tree.text or "")
    assert result.ok


# --- a file per core: pack's look-ahead and check's parallel read -------------------------------

def test_a_package_packed_and_checked_on_one_core_or_two_is_the_same(tmp_path, signer, tsa, monkeypatch):
    """The threads change when SM3 runs, never what it says: same manifest, same verdicts."""
    import earchive.check.read
    from earchive.check import CheckOptions, check_package

    monkeypatch.setattr(earchive.check.read, "PARALLEL_FROM", 0)  # threads even for this small package
    from earchive.domain.pack import pack
    from earchive_devtools.sample import sample_case

    case = sample_case(tmp_path / "cases", seed=7, files=12, size_mb=3, big_files=4).folder
    reports, manifests = [], []
    for lanes in (1, 2, 3):
        result = pack(case, tmp_path / f"out{lanes}", signer=signer, tsa=tsa, serial=1, lanes=lanes)
        manifests.append([(f["member"], f["sm3"], f["sha256"], f["size"]) for f in result.files])
        report = check_package(result.path, CheckOptions(lanes=lanes))
        reports.append([(r.id, r.status) for r in report.results])
        assert report.passed, report.failures
    assert manifests[0] == manifests[1] == manifests[2] and reports[0] == reports[1] == reports[2]
    data = {m["file_name"].split("/")[-1]: m for m in json.loads((case / "case.json").read_text("utf-8"))["materials"]}
    for member, sm3, sha256, size in manifests[0]:
        source = next(f for f in result.files if f["member"] == member)["source"]
        raw = (case / source).read_bytes()
        assert (sm3, sha256, size) == (hashlib.new("sm3", raw).hexdigest(), hashlib.sha256(raw).hexdigest(), len(raw))
        assert data[source.split("/")[-1]]["size"] == size


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_bad_digest_among_many_files_names_that_file(tmp_path, signer, tsa, lanes):
    from earchive.domain.pack import pack
    from earchive.errors import EarchiveError
    from earchive_devtools.sample import sample_case

    case = sample_case(tmp_path / "cases", seed=8, files=10, size_mb=2, big_files=5).folder
    data = json.loads((case / "case.json").read_text("utf-8"))
    third = data["materials"][2]
    third["digest"]["value"] = "0" * 64
    (case / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    with pytest.raises(EarchiveError) as caught:
        pack(case, tmp_path / "out", signer=signer, tsa=tsa, serial=1, lanes=lanes)
    problem = caught.value.problems[0]
    assert problem.rule == "MATERIAL-DIGEST" and problem.file == third["file_name"] and problem.case == data["case"]["project_id"]
    assert not list((tmp_path / "out").glob("*")), "nothing half-written is left"


def test_a_material_that_changes_between_the_two_reads_is_named_not_packed(tmp_path, signer, tsa, monkeypatch):
    """The look-ahead digested one version of the file, the writer copied another: refused by name."""
    import earchive.domain.pack as pack_module
    from earchive.errors import EarchiveError
    from earchive_devtools.sample import sample_case

    case = sample_case(tmp_path / "cases", seed=9, files=6, size_mb=1, big_files=2).folder
    data = json.loads((case / "case.json").read_text("utf-8"))
    real, calls = pack_module.digest_source, []

    def digest_then_change(open_source):
        """The first file as the look-ahead saw it: same size, one byte other than what the writer copies."""
        calls.append(1)
        if len(calls) > 1:
            return real(open_source)
        with open_source() as f:
            raw = bytearray(f.read())
        raw[len(raw) // 2] ^= 0xFF
        return real(lambda: io.BytesIO(bytes(raw)))

    monkeypatch.setattr(pack_module, "digest_source", digest_then_change)
    with pytest.raises(EarchiveError) as caught:
        pack_module.pack(case, tmp_path / "out", signer=signer, tsa=tsa, serial=1, lanes=2)
    problem = caught.value.problems[0]
    assert problem.rule == "MATERIAL-CHANGED" and problem.file == data["materials"][0]["file_name"], problem
    assert not list((tmp_path / "out").glob("*"))


def test_the_check_reads_members_in_parallel_and_reports_each_damaged_one(tmp_path, signer, tsa, monkeypatch):
    """A CRC failure in one member among many is that member's read error, on any number of threads."""
    import earchive.check.read
    from earchive.check import CheckOptions, check_package

    monkeypatch.setattr(earchive.check.read, "PARALLEL_FROM", 0)
    from earchive.domain.pack import pack
    from earchive_devtools.sample import sample_case

    case = sample_case(tmp_path / "cases", seed=10, files=8, size_mb=2, big_files=3).folder
    path = pack(case, tmp_path / "out", signer=signer, tsa=tsa, serial=1).path
    with zipfile.ZipFile(path) as zf:
        victim = next(i for i in zf.infolist() if i.compress_type == zipfile.ZIP_STORED and i.file_size > 1_000_000)
        offset = victim.header_offset + 30 + len(victim.filename.encode()) + len(victim.extra) + victim.file_size // 2
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    for lanes in (1, 2):
        report = check_package(path, CheckOptions(lanes=lanes))
        assert not report.passed
        detail = " ".join(f"{r.detail} {' '.join(r.objects)}" for r in report.failures)
        assert victim.filename in detail and "CRC" in detail, detail
