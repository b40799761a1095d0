"""The one-pass digests and the format readers, on their own."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earchive.crypto.digests import MultiDigest, digest_stream
from earchive.domain.formats import check_readable, identify
from earchive_devtools.sample import jpeg_bytes, ofd_bytes, write_pdf


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=70_000), max_size=12))
def test_multidigest_equals_hashlib_for_any_chunking(chunks):
    md = MultiDigest()
    for c in chunks:
        md.update(c)
    whole = b"".join(chunks)
    assert md.hexdigests() == {"SM3": hashlib.new("sm3", whole).hexdigest(), "SHA-256": hashlib.sha256(whole).hexdigest()}
    assert md.size == len(whole)


def test_sm3_known_answer():
    md = MultiDigest()
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
