"""Text fields on the printed transfer list: laid out by the window, filled by the institution before it signs.

The window certifies the list with DocMDP "form filling allowed" (:mod:`earchive.crypto.pdf_sign`). The cells
the institution answers — Table A.1's 检测意见, 接收人 and 接收日期, the 登记表's 接收单位 检验 column, its 填表人
and 日期 — are AcroForm text fields placed exactly over those cells. The institution fills them in the same
incremental update as its approval signature, so that signature covers the values (issue 20); the window reads
them back and refuses a reply whose printed values differ from what the reply decided.

Each value gets its own appearance stream (a pyHanko text box in the embedded CJK font, ≥ 7 pt), so every
viewer, printer and ``pdftotext`` shows the same text without regenerating anything.
"""

from __future__ import annotations

import io
import unicodedata
from typing import Any

MIN_PT, MAX_PT = 7, 10  # readable on an A4 print (issue 20): never smaller than 7 pt (whole points: pyHanko's layout needs them)
PAD = 2.0  # points inside the cell's rules


def _width_em(text: str) -> float:
    """The width of ``text`` in ems in a CJK font: full-width glyphs 1 em, others about 0.6 (a safe over-estimate)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)


def leading(size: int) -> int:
    return round(size * 1.25)


def layout(text: str, width: float, height: float) -> tuple[int, list[str]]:
    """The largest size from 10 pt down to 7 pt at which ``text`` wrapped to ``width`` fits ``height`` (points), and its lines.

    At 7 pt a text still too long is cut with "…": the full value is the field's /V and the signed JSON's.
    """
    size = MAX_PT
    while True:
        lines = wrap(text, (width - 2 * PAD - 4) / size)  # 4 pt spare: the estimate of a glyph's width is not its advance
        if len(lines) * leading(size) <= height - 2 * PAD or size <= MIN_PT:
            break
        size -= 1
    room = max(1, int((height - 2 * PAD) // leading(size)))
    if len(lines) > room:
        lines = lines[:room]
        lines[-1] = lines[-1][:-1] + "…"
    return size, lines


def wrap(text: str, ems: float) -> list[str]:
    """``text`` in lines of at most ``ems`` (estimated), breaking anywhere (Chinese has no spaces to break at)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            if line and _width_em(line + ch) > ems:
                lines.append(line)
                line = ch.lstrip()
            else:
                line += ch
        lines.append(line)
    return lines


def _appearance(writer: Any, box: tuple[float, float, float, float], text: str) -> Any:
    """A new form XObject showing ``text`` in the cell (pyHanko only accepts a fill that points /AP /N at a new stream)."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.layout import AxisAlignment, BoxConstraints, InnerScaling, Margins, SimpleBoxLayoutRule
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStamp, TextStampStyle

    from .pdf_sign import stamp_font

    width, height = int(box[2] - box[0]), int(box[3] - box[1])  # pyHanko's layout takes whole points (Fraction of the sides)
    size, lines = layout(text, width, height)
    style = TextStampStyle(
        stamp_text="\n".join(lines).replace("%", "%%") or " ",
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(stamp_font()), font_size=size), font_size=size, leading=leading(size),
                                    box_layout_rule=SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MID,
                                                                        margins=Margins.uniform(0),
                                                                        inner_content_scaling=InnerScaling.NO_SCALING)),
        border_width=0, background=None,
        inner_content_layout=SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MID,
                                                 margins=Margins.uniform(int(PAD)), inner_content_scaling=InnerScaling.NO_SCALING))
    return writer.add_object(TextStamp(writer=writer, style=style, box=BoxConstraints(width=width, height=height)).as_form_xobject())


def add_fields(writer: Any, fields: dict[str, tuple[int, tuple[float, float, float, float]]], values: dict[str, str]) -> None:
    """Lay out text fields ``name → (page index, box in points)`` with their first ``values`` (the window's placeholders)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name, pdf_string

    root = writer.root
    if "/AcroForm" not in root:
        root[pdf_name("/AcroForm")] = writer.add_object(generic.DictionaryObject({pdf_name("/Fields"): generic.ArrayObject()}))
        writer.update_root()
    form = root["/AcroForm"]
    field_list = form["/Fields"]
    for name, (page, box) in fields.items():
        page_ref = writer.find_page_for_modification(page)[0]
        value = values.get(name, "")
        field = generic.DictionaryObject({
            pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): pdf_string(name), pdf_name("/V"): pdf_string(value),
            pdf_name("/Ff"): generic.NumberObject(1 << 12),  # multiline
            pdf_name("/DA"): pdf_string("/Helv 0 Tf 0 g"),
            pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"), pdf_name("/F"): generic.NumberObject(4),
            pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in box), pdf_name("/P"): page_ref,
        })
        field[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): _appearance(writer, box, value)})
        ref = writer.add_object(field)
        field_list.append(ref)
        writer.register_annotation(page_ref, ref)
    writer.update_container(field_list)
    writer.update_container(form)


def fill(writer: Any, values: dict[str, str]) -> None:
    """Set each named text field's value and a new appearance for it (in the writer's next revision: the signer's own)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name, pdf_string

    todo = dict(values)
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        name = str(field.get("/T", ""))
        if field.get("/FT") != "/Tx" or name not in todo:
            continue
        box = tuple(float(v) for v in field["/Rect"])
        field[pdf_name("/V")] = pdf_string(todo.pop(name))
        field[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): _appearance(writer, box, str(field["/V"]))})
        writer.update_container(field)
    if todo:
        raise ValueError(f"the printed list has no field(s) {', '.join(sorted(todo))} to fill")


def read(pdf: bytes) -> dict[str, str]:
    """Every text field's value in the file's last revision (what a viewer shows and the last signature covers)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    try:
        fields = reader.root["/AcroForm"]["/Fields"]
    except KeyError:
        return {}
    out = {}
    for ref in fields:
        field = ref.get_object()
        if field.get("/FT") == "/Tx":
            out[str(field.get("/T", ""))] = str(field.get("/V", ""))
    return out


def shown(pdf: bytes) -> dict[str, tuple[str, str]]:
    """What each text field's appearance shows, as a reader extracts it: (the glyphs decoded by the font's ToUnicode map,
    the ActualText spans). A field's /V is only what it claims; a viewer, a printer and ``pdftotext`` show its appearance."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf), strict=False)
    out: dict[str, tuple[str, str]] = {}
    try:
        fields = reader.trailer["/Root"]["/AcroForm"]["/Fields"]
    except KeyError:
        return out
    for ref in fields:
        field = ref.get_object()
        if field.get("/FT") != "/Tx":
            continue
        ap = (field.get("/AP") or {}).get("/N")
        glyphs: list[str] = []
        actual: list[str] = []
        if ap is not None:
            _stream_text(ap.get_object(), reader, glyphs, actual, 0)
        out[str(field.get("/T", ""))] = ("".join(glyphs), "".join(actual))
    return out


def _stream_text(xobject: Any, reader: Any, glyphs: list[str], actual: list[str], depth: int) -> None:
    from pypdf.generic import ContentStream

    if depth > 4:
        raise ValueError("appearance nested too deep")
    resources = xobject.get("/Resources") or {}
    fonts = {name: _to_unicode(font.get_object()) for name, font in (resources.get("/Font") or {}).items()}
    xobjects = resources.get("/XObject") or {}
    cmap: dict[int, str] = {}
    for operands, op in ContentStream(xobject, reader).operations:
        if op == b"Tf":
            cmap = fonts.get(operands[0], {})
        elif op in (b"Tj", b"'", b'"'):
            glyphs.append(_decode(operands[-1], cmap))
        elif op == b"TJ":
            glyphs.extend(_decode(part, cmap) for part in operands[0] if isinstance(part, bytes | str))
        elif op == b"BDC" and len(operands) > 1 and hasattr(operands[1], "get") and operands[1].get("/ActualText") is not None:
            actual.append(str(operands[1]["/ActualText"]))
        elif op == b"Do" and operands[0] in xobjects:
            _stream_text(xobjects[operands[0]].get_object(), reader, glyphs, actual, depth + 1)


def _decode(data: Any, cmap: dict[int, str]) -> str:
    raw = data if isinstance(data, bytes) else getattr(data, "original_bytes", str(data).encode("latin-1", "replace"))
    return "".join(cmap.get(int.from_bytes(raw[i:i + 2], "big"), "\ufffd") for i in range(0, len(raw) - 1, 2))


def _to_unicode(font: Any) -> dict[int, str]:
    """A font's ToUnicode CMap (bfchar and bfrange, two-byte codes) as code → text; empty when it has none."""
    import re

    stream = font.get("/ToUnicode")
    if stream is None:
        return {}
    text = stream.get_object().get_data().decode("latin-1")
    out: dict[int, str] = {}

    def utf16(hexdigits: str) -> str:
        return bytes.fromhex(hexdigits).decode("utf-16-be", "replace")

    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
            out[int(src, 16)] = utf16(dst)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, rest in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[[^\]]*\]|<[0-9A-Fa-f]+>)", block):
            lo_i, hi_i = int(lo, 16), int(hi, 16)
            if rest.startswith("["):
                for n, dst in enumerate(re.findall(r"<([0-9A-Fa-f]*)>", rest)):
                    out[lo_i + n] = utf16(dst)
            elif hi_i - lo_i <= 65535:
                base = int(rest.strip("<>"), 16)
                for n in range(hi_i - lo_i + 1):
                    out[lo_i + n] = chr(base + n) if base + n < 0x110000 else "\ufffd"
    return out


def shows(value: str, text: str) -> bool:
    """Whether ``text`` read from an appearance is ``value`` as :func:`layout` prints it (lines broken, perhaps cut with "…")."""
    flat, want = "".join(text.split()), "".join(value.split())
    return flat == want or (flat.endswith("…") and len(flat) > 1 and want.startswith(flat[:-1]))


__all__ = ["MIN_PT", "add_fields", "fill", "layout", "read", "shown", "shows", "wrap"]
