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


__all__ = ["MIN_PT", "add_fields", "fill", "layout", "read", "wrap"]
