"""The one printed document of a transfer: 移交清单 (Table A.1), 电子档案移交与接收登记表 and the digest annex.

Both parties sign this PDF (issue 10): the window certifies it at submit and the institution adds its
approval as an incremental update (``earchive.crypto.pdf_sign``). Rendering is pure (fpdf2, an embedded
CJK font); :func:`render` also says where the two signature boxes are, in PDF points, so the signing
code places its visible stamps exactly in the 登记表's 签章 cells — nothing else is drawn there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .transfer import TABLE_A1

SENDER_FIELD, RECEIVER_FIELD = "SenderSig", "ReceiverSig"  # 移交方, 接收方
CHECK_ROWS = ("准确性检验", "完整性检验", "可用性检验", "安全性检验", "载体外观检验")
DIGEST_ALGORITHM = "SM3（GB/T 32905-2016）"
MM = 72 / 25.4  # points per millimetre
PAGE_HEIGHT_MM = 210.0  # A4 landscape
VALUE_MM = 34.0  # a name in a 填表人/审核人 line: between its label and the stamp box


@dataclass(frozen=True)
class Form:
    """The rendered PDF and, per signature field, (page index, box in PDF points: x1, y1, x2, y2 from the lower left)."""

    pdf: bytes
    boxes: dict[str, tuple[int, tuple[float, float, float, float]]]


def sender_checks(document: dict[str, Any]) -> dict[str, str]:
    """The 移交单位 column: every package in a batch passed the archiving check (归档检测) before it could be listed."""
    n = len(document["packages"])
    passed = f"合格（归档检测 DA/T 70，{n} 件均通过）"
    return {**dict.fromkeys(CHECK_ROWS[:4], passed), "载体外观检验": "在线移交，无实体载体"}


def volume_gb(document: dict[str, Any]) -> str:
    """移交数据量 in GB with three decimals, as the 登记表 asks."""
    return f"{sum(int(p.get('size') or 0) for p in document['packages']) / 1e9:.3f}"


def render(document: dict[str, Any]) -> Form:
    """Table A.1, the 登记表 with both parties' columns and 签章 boxes, and the digest annex, as one PDF."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from .exports import LIST_WIDTHS, _fitting, _signatures, note_lines, pdf_font

    heading = FontFace(emphasis="", fill_color=(230, 230, 230))  # one CJK face: shade the headings, no bold
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(f"政务服务电子档案移交清单 {document['batch_id']}")
    pdf.set_creator("earchive")
    pdf.add_page()
    file, face = pdf_font()
    pdf.add_font("cjk", "", file, collection_font_number=face)
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, "政务服务电子档案移交清单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 8, f"批次编号：{document['batch_id']}　　接收单位：{document['institution_name']}"
                   + (f"　　补交，原批次：{document['resubmits']}" if document.get("resubmits") else ""),
                   new_x="LMARGIN", new_y="NEXT")
    note_width = pdf.epw * LIST_WIDTHS[-1] / sum(LIST_WIDTHS) - 2 * pdf.c_margin
    align = ("CENTER", "CENTER", "LEFT", "CENTER", "CENTER", "CENTER", "LEFT")
    with pdf.table(col_widths=LIST_WIDTHS, text_align=align, line_height=7, headings_style=heading) as table:
        header = table.row()
        for c in TABLE_A1:
            header.cell(c)
        for row in document["rows"]:
            r = table.row()
            for c in TABLE_A1:
                if c == "备注":
                    text = note_lines(row[c])
                    r.cell(text, style=_fitting(pdf, text, note_width))
                else:
                    r.cell(str(row[c]))
    pdf.ln(8)
    _signatures(pdf, document, FontFace(emphasis="", fill_color=(240, 240, 240)))
    pdf.ln(4)
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(0, 5, "本清单与第 2 页《电子档案移交与接收登记表》、附表《电子档案数字摘要》为同一文件，由移交方在提交时、"
                         "接收方在答复时分别以数字签名签署（PAdES）；清单同时以 JSON 形式由双方以 CMS 签名。")
    boxes = _register(pdf, document, heading)
    _annex(pdf, document, heading)
    return Form(bytes(pdf.output()), boxes)


def _register(pdf: Any, document: dict[str, Any], heading: Any) -> dict[str, tuple[int, tuple[float, float, float, float]]]:
    """电子档案移交与接收登记表: header fields, the 检验 rows for both units, and a 填表人/审核人/单位 block per unit."""
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 11, "电子档案移交与接收登记表", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    tasks = sorted({p["task_name"] for p in document["packages"]})
    n = len(document["packages"])
    header = (("交接工作名称", f"政务服务电子档案移交（批次 {document['batch_id']}）", "移交单位", str(document.get("sender_name") or "综合受理窗口")),
              ("内容描述", "、".join(tasks)[:120] or "—", "接收单位", str(document["institution_name"])),
              ("移交电子档案数量", f"{n} 件", "移交数据量", f"{volume_gb(document)} GB"),
              ("载体起止顺序号", f"1–{n}" if n else "—", "移交载体类型、规格", "在线（网络传输，对象存储）"))
    with pdf.table(col_widths=(34, 104, 34, 105), text_align="LEFT", line_height=7, first_row_as_headings=False) as table:
        for row in header:
            r = table.row()
            for i, text in enumerate(row):
                r.cell(text, style=heading if i % 2 == 0 else None)
    pdf.ln(3)
    sent = sender_checks(document)
    received = document.get("receiver_checks") or {}
    with pdf.table(col_widths=(34, 121, 122), text_align="LEFT", line_height=7, headings_style=heading) as table:
        h = table.row()
        for c in ("检验内容", "移交单位", "接收单位"):
            h.cell(c)
        for name in CHECK_ROWS:
            r = table.row()
            r.cell(name, style=heading)
            r.cell(sent[name])
            r.cell(received.get(name) or "见接收单位签章（接收检测结果随签章签署）")
    pdf.ln(3)
    return {SENDER_FIELD: _signing_block(pdf, "移交单位", document["transferor"], document.get("reviewer"), left=True),
            RECEIVER_FIELD: _signing_block(pdf, "接收单位", document.get("receiver"), None, left=False)}


def _signing_block(pdf: Any, unit: str, filler: Any, reviewer: Any, left: bool) -> tuple[int, tuple[float, float, float, float]]:
    """One unit's 填表人 / 审核人 / 单位（印章）lines and, beside them, the empty box its digital signature's stamp fills."""
    width, height, top = 138.5, 52.0, pdf.get_y()
    x = pdf.l_margin if left else pdf.l_margin + width
    pdf.rect(x, top, width, height)
    pdf.set_xy(x + 2, top + 2)
    pdf.set_font("cjk", size=10)
    for label, value in ((f"{unit}", ""), ("填表人（签名）", filler or ""), ("审核人（签名）", reviewer or ""), ("单位（印章）", "见右侧数字签章"),
                         ("日期", "签章时间为准")):
        pdf.set_x(x + 2)
        pdf.set_font("cjk", size=10)
        pdf.cell(26, 8, label)
        text, row = str(value), pdf.get_y()
        if pdf.get_string_width(text) <= VALUE_MM:
            pdf.cell(VALUE_MM + 2, 8, text, new_x="LMARGIN", new_y="NEXT")
            continue
        # a long name: two lines, set smaller (at least 4 pt; beyond that it is cut with "…"), never into the stamp box beside it
        pdf.set_font("cjk", size=4)
        while pdf.get_string_width(text) > 1.9 * VALUE_MM:
            text = text[:-2] + "…"
        pdf.set_font("cjk", size=min(10.0, max(4.0, 4 * 1.9 * VALUE_MM / pdf.get_string_width(text))))
        pdf.multi_cell(VALUE_MM, 4, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(row + 8)
    pdf.set_font("cjk", size=10)
    box_x, box_y, box_w, box_h = x + 64, top + 4, width - 68, height - 8
    pdf.set_draw_color(160, 160, 160)
    pdf.rect(box_x, box_y, box_w, box_h)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_y(top)
    page = pdf.page - 1
    return page, (box_x * MM, (PAGE_HEIGHT_MM - box_y - box_h) * MM, (box_x + box_w) * MM, (PAGE_HEIGHT_MM - box_y) * MM)


def _annex(pdf: Any, document: dict[str, Any], heading: Any) -> None:
    """附表 电子档案数字摘要: one row per package (载体(包)编号, 内容说明, 数字摘要, 实际容量), the algorithm named."""
    pdf.add_page()
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, "附表：电子档案数字摘要", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.multi_cell(0, 6, f"单位名称：{document.get('sender_name') or '综合受理窗口'}　　摘要算法：{DIGEST_ALGORITHM}，"
                         "对每个归档信息包（ZIP）全部字节计算", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=7)
    with pdf.table(col_widths=(9, 62, 58, 110, 20), line_height=5, headings_style=heading) as table:
        h = table.row()
        for c in ("序号", "载体（包）编号", "内容说明", "数字摘要（SM3）", "实际容量（GB）"):
            h.cell(c)
        for n, p in enumerate(document["packages"], 1):
            r = table.row()
            for v in (n, p["record_code"], f"{p['task_name']}（办件编号 {p['project_id']}）", p["digest"]["value"],
                      f"{int(p.get('size') or 0) / 1e9:.6f}"):
                r.cell(str(v))


def transfer_list_pdf(document: dict[str, Any], path: Path) -> Path:
    """The rendered form written to ``path`` (unsigned: for printing, or to be signed)."""
    path.write_bytes(render(document).pdf)
    return path


__all__ = ["CHECK_ROWS", "DIGEST_ALGORITHM", "RECEIVER_FIELD", "SENDER_FIELD", "Form", "render", "sender_checks", "transfer_list_pdf",
           "volume_gb"]
