"""One zip, one view; every byte accounted for (review F10).

A package or bundle with bytes before its first entry, a local entry the central directory does
not list, a gap between entries, or a folder entry carrying data is refused, so no reader can see a
byte the seal, the check and the scanner did not. Zips with data descriptors (streamed by Java and
many Windows tools) stay valid.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from earchive.check import check_package
from earchive.domain.collect import collect
from earchive.errors import EarchiveError
from earchive_devtools.sample import sample_case, zip_case


def local_entry(name: str, data: bytes) -> bytes:
    raw = name.encode()
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0x800, 0, 0, 0, zlib.crc32(data), len(data), len(data), len(raw), 0) + raw + data


def streamed_names(data: bytes) -> list[str]:
    """What a streaming reader sees: local headers from byte 0 on."""
    names, pos = [], 0
    while data[pos:pos + 4] == b"PK\x03\x04":
        csize, = struct.unpack_from("<I", data, pos + 18)
        nlen, elen = struct.unpack_from("<HH", data, pos + 26)
        names.append(data[pos + 30:pos + 30 + nlen].decode())
        pos += 30 + nlen + elen + csize
    return names


def layout_failure(report) -> str:
    r = next(r for r in report.results if r.id == "GD-1-13")
    assert r.status == "fail"
    return r.detail


def test_a_local_entry_prepended_to_a_sealed_package_is_refused(package_copy):
    """The review's repro: zipfile (and the old check) saw the sealed files only; a streaming reader saw hidden.exe first."""
    data = local_entry("申报文件/000-hidden.exe", b"MZ" + b"\0" * 64) + package_copy.read_bytes()
    package_copy.write_bytes(data)
    assert streamed_names(data)[0] == "申报文件/000-hidden.exe"
    report = check_package(package_copy)
    assert not report.passed
    assert "before the first entry" in layout_failure(report)


@pytest.mark.parametrize("tail", [b"\0" * 64, b"PK\x03\x04" + b"x" * 40, b"\n"], ids=["zeros", "a-local-header", "one-byte"])
def test_bytes_after_the_end_record_are_refused_as_bytes_before_the_first_entry_are(package_copy, tail):
    """Audit D10 (issue 21): unzip, 7z, bsdtar and Java accept a package with bytes after its end record; earchive does not."""
    package_copy.write_bytes(package_copy.read_bytes() + tail)
    report = check_package(package_copy)
    assert not report.passed
    assert f"{len(tail)} bytes after the end-of-central-directory record" in layout_failure(report)


def test_an_archive_comment_is_part_of_the_end_record_not_trailing_bytes(tmp_path):
    case = sample_case(tmp_path / "c", seed=52)
    path = zip_case(case.folder, tmp_path / "b.zip")
    with zipfile.ZipFile(path, "a") as z:
        z.comment = "归档包注释 comment".encode()
    collect(path)  # the comment is counted in the end record: accepted
    path.write_bytes(path.read_bytes() + b"!")
    with pytest.raises(EarchiveError) as caught:
        collect(path)
    assert caught.value.rule == "BUNDLE-LAYOUT"


def test_a_gap_between_entries_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", b"a")
        z.writestr("b.txt", b"b")
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        second = z.getinfo("b.txt").header_offset
    hidden = local_entry("hidden.exe", b"MZ")
    data = data[:second] + hidden + data[second:]
    # fix the central directory: b.txt and the directory itself moved by len(hidden)
    eocd = data.rindex(b"PK\x05\x06")
    cd_offset, = struct.unpack_from("<I", data, eocd + 16)
    cd_offset += len(hidden)
    data = bytearray(data)
    struct.pack_into("<I", data, eocd + 16, cd_offset)
    b_entry = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02", cd_offset) + 4)
    struct.pack_into("<I", data, b_entry + 42, second + len(hidden))
    path = tmp_path / "gap.zip"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z:
        assert z.read("b.txt") == b"b", "zipfile alone is content with this zip"
    from earchive.domain.safezip import SafeZip

    z = SafeZip(str(path))
    assert any(p.rule == "BUNDLE-LAYOUT" and "gap" in p.message for p in z.problems)


def test_a_folder_entry_that_carries_data_is_refused(tmp_path):
    path = tmp_path / "dir.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("materials/"), b"hidden payload")
        z.writestr("case.json", b"{}")
    with pytest.raises(EarchiveError) as caught:
        collect(path)
    assert "BUNDLE-LAYOUT" in [p.rule for p in caught.value.problems]


def test_a_bundle_with_prepended_bytes_is_refused(tmp_path):
    case = sample_case(tmp_path / "c", seed=51)
    path = zip_case(case.folder, tmp_path / "b.zip")
    path.write_bytes(b"#!/bin/sh\necho hi\n" + path.read_bytes())
    with pytest.raises(EarchiveError) as caught:
        collect(path)
    assert caught.value.rule == "BUNDLE-LAYOUT"


class Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        return self.buf.write(b)


def test_a_streamed_zip_with_data_descriptors_is_still_a_valid_bundle(tmp_path):
    """Java's ZipOutputStream and many Windows tools write data descriptors (flag bit 3): not a layout problem."""
    case = sample_case(tmp_path / "c", seed=52)
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(case.folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(case.folder).as_posix())
    data = out.buf.getvalue()
    assert struct.unpack_from("<H", data, 6)[0] & 0x8, "written with data descriptors"
    path = tmp_path / "streamed.zip"
    path.write_bytes(data)
    record, bundle = collect(path)
    bundle.close()
    assert record.project_id == case.project_id


def test_zips_from_java_and_info_zip_streams_are_valid(tmp_path):
    """No false alarms (review of the fix): a DEFLATED empty folder entry, and 64-bit data descriptors of small entries."""
    from earchive.domain.safezip import SafeZip

    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("materials/"), b"")  # an empty folder entry
        with z.open("case.json", "w", force_zip64=True) as f:  # zip64 descriptor on a small entry, as `zip - -` writes
            f.write(b"{}")
    path = tmp_path / "streamed.zip"
    path.write_bytes(out.buf.getvalue())
    assert [p for p in SafeZip(str(path)).problems if p.rule == "BUNDLE-LAYOUT"] == []


def test_a_local_header_whose_sizes_hide_another_entry_is_refused(tmp_path):
    """The two-views trick without gaps: the local header says one size, the directory another."""
    from earchive.domain.safezip import SafeZip

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("case.json", b'{"a": 1}')
    data = bytearray(buf.getvalue())
    struct.pack_into("<I", data, 18, 3)  # the local header's compressed size: 3, not 8
    path = tmp_path / "two.zip"
    path.write_bytes(bytes(data))
    assert any("CRC or sizes" in p.message for p in SafeZip(str(path)).problems)


def one_deflated_entry(path, body: bytes, deflated: bytes, name: bytes = b"case.json"):
    """A zip of one DEFLATED entry whose compressed bytes are ``deflated``, declared as ``body`` (its size and CRC)."""
    crc = zlib.crc32(body)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0x800, 8, 0, 0, crc, len(deflated), len(body), len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0x800, 8, 0, 0, crc, len(deflated), len(body),
                          len(name), 0, 0, 0, 0, 0, 0) + name
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(deflated), 0)
    path.write_bytes(local + deflated + central + eocd)
    return path


def test_bytes_after_the_end_of_a_deflate_stream_inside_an_entry_are_refused(tmp_path):
    """zipfile stops at the deflate stream's end: bytes after it, within compress_size, were seen by nobody."""
    from earchive.domain.safezip import SafeZip

    body = b'{"case": "x"}' * 50
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    path = one_deflated_entry(tmp_path / "tail.zip", body, co.compress(body) + co.flush() + b"MZ hidden payload")
    with zipfile.ZipFile(path) as z:
        assert z.read("case.json") == body, "zipfile alone is content with this zip"
    z = SafeZip(str(path))
    assert z.problems == []
    with pytest.raises(EarchiveError) as caught:
        z.read_small(z.members["case.json"])
    assert caught.value.rule == "BUNDLE-LAYOUT" and "17 bytes" in str(caught.value.problems[0].message)


def test_a_deflate_stream_that_goes_on_past_the_declared_size_is_refused(tmp_path):
    """The mirror case (review of the fix): zipfile stops at file_size and drops what the stream inflates beyond it."""
    from earchive.domain.safezip import SafeZip

    body, hidden = b'{"case": "x"}' * 50, b"MZ" + bytes(range(256)) * 40
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    path = one_deflated_entry(tmp_path / "past.zip", body, co.compress(body + hidden) + co.flush())
    with zipfile.ZipFile(path) as z:
        assert z.read("case.json") == body, "zipfile alone is content with this zip"
    z = SafeZip(str(path))
    with pytest.raises(EarchiveError) as caught:
        z.read_small(z.members["case.json"])
    assert caught.value.rule == "BUNDLE-LAYOUT" and "past the entry's declared size" in caught.value.problems[0].message


@pytest.mark.parametrize("other", ["case.json/", "case.json/hidden.txt"])
def test_a_name_that_is_a_file_and_a_folder_is_refused(tmp_path, other):
    """Found by hand on the local cloud: `case.json` beside `case.json/` was archived; no extractor can write both."""
    from earchive.domain.safezip import SafeZip

    path = tmp_path / "both.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("case.json", b"{}")
        z.writestr(zipfile.ZipInfo(other) if other.endswith("/") else other, b"" if other.endswith("/") else b"x")
    assert any(p.rule == "BUNDLE-DUPLICATE" and p.file == "case.json" for p in SafeZip(str(path)).problems)
