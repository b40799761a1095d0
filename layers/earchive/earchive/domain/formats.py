"""Content formats: what a file really is, whether it opens, whether it is encrypted.

Identification is by signature (magic bytes), never by extension alone: a
renamed or truncated file must not pass as a PDF. Readability means the file
opens with a real parser: pypdf for PDF, our GB/T 33190 structure walk for
OFD (no maintained Python OFD validator exists), Pillow decoding for images,
lxml for XML.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from lxml import etree

from ..errors import OverBudget
from .metadata import safe_parser

DEFAULT_ALLOWED = ("ofd", "pdf", "jpg", "jpeg", "png", "tif", "tiff", "xml")
EXTENSION_KIND = {"pdf": "pdf", "ofd": "ofd", "jpg": "jpeg", "jpeg": "jpeg", "png": "png", "tif": "tiff", "tiff": "tiff", "xml": "xml"}
OFD_NS = "http://www.ofdspec.org/2016"
MAX_IMAGE_PIXELS = 300_000_000  # above this Pillow refuses to open at all (a decompression bomb)
DECODE_PIXELS = 60_000_000  # decoded fully up to here (~240 MB as RGBA); larger images are checked without decoding (review F6)
MAX_OFD_PAGES = 20_000
MAX_OFD_XML_BYTES = 256 * 1024**2  # all the XML parts an OFD check may parse, together
READ_SECONDS = 120.0  # one file's readability check; past it the result is "manual", never a dead Lambda


def identify(head: bytes) -> str | None:
    """The kind of file from its first bytes: pdf, zip, jpeg, png, tiff, xml, or None."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return "xml"
    return None


def kind_matches(extension: str, detected: str | None) -> bool:
    expected = EXTENSION_KIND.get(extension)
    if expected == "ofd":
        return detected == "zip"
    return expected is not None and expected == detected


@dataclass
class Readability:
    """What a reader found: opens, does not open, or could not be examined within its budget (``manual``)."""

    ok: bool
    detail: str
    encrypted: bool = False
    manual: bool = False



Opener = Callable[[], BinaryIO]


def check_readable(path: str, opener: Opener, tail: bytes) -> Readability:
    """Open the file with a real parser for its kind (by extension)."""
    ext = PurePosixPath(path).suffix.lower().lstrip(".")
    kind = EXTENSION_KIND.get(ext)
    try:
        if kind == "pdf":
            return _pdf(opener, tail)
        if kind == "ofd":
            return _ofd(opener)
        if kind in ("jpeg", "png", "tiff"):
            return _image(opener)
        if kind == "xml":
            with opener() as f:
                etree.parse(f, safe_parser())
            return Readability(True, "XML well-formed")
        return Readability(False, f"no reader for .{ext}")
    except OverBudget as exc:
        return Readability(True, str(exc), manual=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure means "does not open"; reported, never raised
        return Readability(False, f"{type(exc).__name__}: {exc}"[:300])


def _pdf(opener: Opener, tail: bytes) -> Readability:
    from pypdf import PdfReader

    if b"%%EOF" not in tail[-1024:]:
        return Readability(False, "no %%EOF in the last 1024 bytes (truncated PDF)")
    with opener() as f:
        reader = PdfReader(f, strict=False)
        if reader.is_encrypted:
            return Readability(False, "PDF is encrypted", encrypted=True)
        pages = len(reader.pages)
        if pages < 1:
            return Readability(False, "PDF has no pages")
        reader.pages[0].get_contents()
        version = reader.pdf_header.lstrip("%")
    return Readability(True, f"{version}, {pages} page(s)")


def _ofd(opener: Opener) -> Readability:
    with opener() as f:
        data = f.read(256 * 1024**2 + 1)
    if len(data) > 256 * 1024**2:
        return Readability(False, "OFD over 256 MiB is not opened by the structure check")
    from .safezip import SafeZip, ZipLimits

    deadline = time.monotonic() + READ_SECONDS
    with SafeZip(io.BytesIO(data), ZipLimits(max_members=5000, max_total_bytes=2 * 1024**3), rule_prefix="OFD") as z:
        if z.problems:
            encrypted = any(p.rule == "OFD-ENCRYPTED" for p in z.problems)
            return Readability(False, "; ".join(str(p) for p in z.problems)[:300], encrypted=encrypted)
        parsed: dict[str, etree._Element] = {}  # each part parsed once, however many pages point at it (review F6)
        budget = {"bytes": 0}

        def xml(name: str) -> etree._Element:
            if name in parsed:
                return parsed[name]
            member = z.members.get(name)
            if member is None:
                raise ValueError(f"{name} is missing")
            budget["bytes"] += member.size
            if budget["bytes"] > MAX_OFD_XML_BYTES or time.monotonic() > deadline:
                raise OverBudget(f"OFD structure larger than the check's budget ({MAX_OFD_XML_BYTES // 1024**2} MiB of XML, "
                                  f"{READ_SECONDS:.0f} s): open it by hand")
            parsed[name] = etree.fromstring(z.read_small(member), safe_parser())
            return parsed[name]

        root = xml("OFD.xml")
        if root.tag != f"{{{OFD_NS}}}OFD":
            raise ValueError(f"OFD.xml root is {root.tag}, not ofd:OFD in {OFD_NS}")
        ns = {"ofd": OFD_NS}
        doc_roots = root.xpath("ofd:DocBody/ofd:DocRoot/text()", namespaces=ns)
        if not doc_roots:
            raise ValueError("OFD.xml has no DocBody/DocRoot")
        pages = 0
        for doc_root in doc_roots:
            doc_path = doc_root.strip().lstrip("/")
            document = xml(doc_path)
            base = PurePosixPath(doc_path).parent
            for loc in document.xpath("ofd:Pages/ofd:Page/@BaseLoc", namespaces=ns):
                pages += 1
                if pages > MAX_OFD_PAGES:
                    raise OverBudget(f"more than {MAX_OFD_PAGES} pages: the structure check stops there; open it by hand")
                xml(str(base / loc.lstrip("/")) if not loc.startswith("/") else loc.lstrip("/"))
        if pages == 0:
            raise ValueError("the document has no pages")
    return Readability(True, f"OFD, {len(doc_roots)} document(s), {pages} page(s)")


def _image(opener: Opener) -> Readability:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    with opener() as f, Image.open(f) as img:
        fmt, size = img.format, img.size
        if fmt == "JPEG":
            img.draft("L", (max(1, size[0] // 8), max(1, size[1] // 8)))  # decode every block, at 1/8 scale
            if img.size[0] * img.size[1] <= DECODE_PIXELS:
                img.load()
                return Readability(True, f"{fmt} {size[0]}x{size[1]} decodes (at 1/8 scale)")
        elif size[0] * size[1] <= DECODE_PIXELS:
            img.load()
            return Readability(True, f"{fmt} {size[0]}x{size[1]} decodes")
        img.verify()  # structure and checksums without decoding the pixels (a small file can promise gigabytes)
    return Readability(True, f"{fmt} {size[0]}x{size[1]}: {size[0] * size[1] // 1_000_000} Mpx over the decoding budget "
                             f"({DECODE_PIXELS // 1_000_000} Mpx); structure verified, pixels not decoded", manual=True)
