"""Bounded work for hostile files (review F6): a material of a few MB never costs the check minutes or gigabytes.

OFD parts are parsed once each, with page and byte budgets; images beyond a pixel budget are checked
without decoding their pixels. What a budget stops is ``manual`` (a person opens it), never a pass
and never a dead Lambda.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from earchive.domain import formats
from earchive.domain.formats import MAX_OFD_PAGES, OFD_NS, check_readable


def ofd(pages: int, content: bytes = b"") -> bytes:
    page = b"<ofd:Page xmlns:ofd='%s'><ofd:Content>%s</ofd:Content></ofd:Page>" % (OFD_NS.encode(), content)
    refs = "".join(f'<ofd:Page ID="{i}" BaseLoc="Pages/Page_0/Content.xml"/>' for i in range(pages))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OFD.xml", f"<ofd:OFD xmlns:ofd='{OFD_NS}'><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>")
        z.writestr("Doc_0/Document.xml", f"<ofd:Document xmlns:ofd='{OFD_NS}'><ofd:Pages>{refs}</ofd:Pages></ofd:Document>")
        z.writestr("Doc_0/Pages/Page_0/Content.xml", page)
    return buf.getvalue()


def test_an_ofd_whose_pages_all_point_at_one_big_part_parses_it_once(monkeypatch):
    """The review's 17 KB OFD: thousands of page entries re-parsed one 8 MiB part each time (about 270 ms a page)."""
    data = ofd(4000, b"<ofd:TextObject>" + __import__("os").urandom(3 * 1024**2).hex().encode() + b"</ofd:TextObject>")
    assert len(data) < 8 * 1024**2
    calls = []
    real = formats.etree.fromstring
    monkeypatch.setattr(formats.etree, "fromstring", lambda text, parser=None: calls.append(len(text)) or real(text, parser))
    result = check_readable("a.ofd", lambda: io.BytesIO(data), b"")
    assert result.ok and not result.manual and "4000 page(s)" in result.detail
    assert len(calls) == 3, "OFD.xml, Document.xml and the one Content.xml, each parsed once"


def test_an_ofd_over_the_page_budget_is_manual_not_a_pass():
    result = check_readable("a.ofd", lambda: io.BytesIO(ofd(MAX_OFD_PAGES + 1)), b"")
    assert result.ok and result.manual and "pages" in result.detail


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def test_an_image_that_promises_gigapixels_is_not_decoded():
    """A 24000x12000 RGBA PNG header in a few hundred bytes would need about 1.1 GB to decode."""
    data = png(24_000, 12_000)
    result = check_readable("big.png", lambda: io.BytesIO(data), b"")
    assert result.manual and "pixels not decoded" in result.detail


def test_an_ordinary_image_is_still_fully_decoded():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (800, 600), "white").save(buf, "PNG")
    result = check_readable("ok.png", lambda: io.BytesIO(buf.getvalue()), b"")
    assert result.ok and not result.manual and "decodes" in result.detail
