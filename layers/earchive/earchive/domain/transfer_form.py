"""The one printed document of a transfer: 移交清单 (Table A.1), 电子档案移交与接收登记表 and the digest annex.

Both parties sign this PDF (issue 10): the window certifies it at submit and the institution adds its
approval as an incremental update (``earchive.crypto.pdf_sign``). Rendering is pure (fpdf2, an embedded
CJK font); :func:`render` also says where the two signature boxes are, in PDF points, so the signing
code places its visible stamps exactly in the 登记表's 签章 cells — nothing else is drawn there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .transfer import OPINION_PENDING as PENDING
from .transfer import TABLE_A1, beijing_date
from .wording import register_rows

SENDER_FIELD, RECEIVER_FIELD = "SenderSig", "ReceiverSig"  # 移交方, 接收方
CHECK_ROWS = ("准确性检验", "完整性检验", "可用性检验", "安全性检验", "载体外观检验")
DIGEST_ALGORITHM = "SM3（GB/T 32905-2016）"
MM = 72 / 25.4  # points per millimetre
PAGE_HEIGHT_MM = 210.0  # A4 landscape
VALUE_MM = 34.0  # a name in a 填表人/审核人 line: between its label and the stamp box


Box = tuple[int, tuple[float, float, float, float]]  # (page index, box in PDF points: x1, y1, x2, y2 from the lower left)

# The cells the institution answers: text fields the window lays out empty and the institution fills before it signs.
OPINION = "Opinion{}"  # Table A.1 检测意见 of row n (1-based)
RECEIVER_NAME, RECEIVED_DATE, RECEIVER_SIGNED = "Receiver", "ReceivedDate", "ReceiverSigned"  # Table A.1 接收人, 接收日期, 签字
RECEIVER_CHECK = "ReceiverCheck{}"  # 登记表 接收单位 检验 row n (1-based, CHECK_ROWS order)
RECEIVER_FILLER, RECEIVER_DAY = "ReceiverFiller", "ReceiverDate"  # 登记表 接收单位 填表人, 日期
CARRIER = "载体外观检验"
SM2_NOTE = ("本清单依据双方签署的 transfer-list.json（移交方 CMS 签名）与 receipt.json（接收方 SM2 签名回执）生成，本打印件本身未签名。"
            "移交方在提交时以 PAdES 签名认证了清单 PDF（transfer-list.pdf）；接收方使用 SM2 密钥，不在 PDF 上签名，"
            "而以其 SM2 签名回执确认该 PDF 的 SHA-256 与 SM3 摘要（见附件）；检测意见、接收人、接收日期及登记表接收单位各栏取自该回执。")
SM2_SIGNED = "以 SM2 数字签名回执确认（见附件）"  # an SM2-only institution's approval (no PAdES signature on this PDF: ADR 0012)


@dataclass(frozen=True)
class Form:
    """The rendered PDF, where its signature boxes are, and where the institution's text fields go (same coordinates)."""

    pdf: bytes
    boxes: dict[str, Box]
    fields: dict[str, Box] = field(default_factory=dict)


def sender_checks(document: dict[str, Any]) -> dict[str, str]:
    """The 移交单位 column: the archiving check (归档检测) of every listed package, in :mod:`earchive.domain.wording`'s words.

    A list signed before the packages carried their check's summary says only what was then established: that each
    passed its archiving check, with no claim about tests left to a person.
    """
    checks = [p.get("archiving_check") for p in document["packages"]]
    if checks and all(c is not None for c in checks):
        rows = register_rows(checks)
        return {**{f"{k}检验": f"{v}（归档检测 DA/T 70）" for k, v in rows.items()}, CARRIER: "在线移交，无实体载体"}
    n = len(document["packages"])
    told = f"归档检测 DA/T 70 无不通过项（{n} 件）；须人工核查项未单列"
    return {**dict.fromkeys(CHECK_ROWS[:4], told), CARRIER: "在线移交，无实体载体"}


def placeholders(document: dict[str, Any]) -> dict[str, str]:
    """What the institution's cells say until it answers: that it has not yet (never 待检测 on a decided list)."""
    names = [OPINION.format(n) for n in range(1, len(document["rows"]) + 1)]
    names += [RECEIVER_CHECK.format(n) for n in range(1, len(CHECK_ROWS) + 1)]
    return {**dict.fromkeys(names, PENDING), RECEIVER_NAME: "", RECEIVED_DATE: "", RECEIVER_SIGNED: "", RECEIVER_FILLER: "", RECEIVER_DAY: ""}


def answers(final: dict[str, Any]) -> dict[str, str]:
    """The institution's cells as the decided list (:func:`earchive.domain.final.final_list`) fills them: what its signature covers."""
    out = {OPINION.format(n): str(row["检测意见"]) for n, row in enumerate(final["rows"], 1)}
    checks = final.get("receiver_checks") or {}
    out.update({RECEIVER_CHECK.format(n): str(checks.get(name, "")) for n, name in enumerate(CHECK_ROWS, 1)})
    day = final.get("received_date") or (beijing_date(str(final["decided_at"])) if final.get("decided_at") else "")
    signed = SM2_SIGNED if final.get("receiver_approval") else "已数字签章（见第 2 页接收单位签章）"
    out.update({RECEIVER_NAME: str(final.get("receiver") or ""), RECEIVED_DATE: day, RECEIVER_SIGNED: signed,
                RECEIVER_FILLER: str(final.get("receiver") or ""), RECEIVER_DAY: day})
    return out


def volume_gb(document: dict[str, Any]) -> str:
    """移交数据量 in GB with three decimals, as the 登记表 asks."""
    return f"{sum(int(p.get('size') or 0) for p in document['packages']) / 1e9:.3f}"


def _box(pdf: Any, x: float, y: float, w: float, h: float) -> Box:
    """A cell in mm (from the top left) as a field's box in PDF points (from the lower left), inside its rules."""
    return pdf.page - 1, ((x + 0.4) * MM, (PAGE_HEIGHT_MM - y - h + 0.4) * MM, (x + w - 0.4) * MM, (PAGE_HEIGHT_MM - y - 0.4) * MM)


def _grid(pdf: Any, widths: tuple[float, ...], header: tuple[str, ...] | None, rows: list[list[str]], *, line: float,
          align: tuple[str, ...], min_height: float = 0.0, field_col: int | None = None, first_col_shaded: bool = False,
          fit_col: int | None = None) -> list[Box]:
    """A ruled table drawn cell by cell, so the box of each row's ``field_col`` cell is known (fpdf2's tables do not say).

    Rows keep together; a table that runs over a page repeats its header. ``fit_col``'s text is set smaller when its
    longest line (a 电子文件号) would not fit, so an id is never split. Returns the field cells' boxes, row by row.
    """
    size = pdf.font_size_pt
    boxes: list[Box] = []

    def heights(cells: list[str], shaded: bool) -> float:
        h = 0.0 if shaded else min_height
        for c, (w, text) in enumerate(zip(widths, cells)):
            pdf.set_font(size=_fit_size(pdf, text, w - 2, size) if c == fit_col else size)
            h = max(h, pdf.multi_cell(w - 2, line, text, dry_run=True, output="HEIGHT", padding=(1, 0), wrapmode="CHAR") + 1)
            pdf.set_font(size=size)
        return h

    def draw(cells: list[str], shaded: bool) -> float:
        h = heights(cells, shaded)
        if pdf.will_page_break(h):
            pdf.add_page()
            if header and not shaded:
                draw(list(header), True)
        x, y = pdf.l_margin, pdf.get_y()
        for c, (w, text) in enumerate(zip(widths, cells)):
            fill = shaded or (first_col_shaded and c == 0)
            if fill:
                pdf.set_fill_color(230, 230, 230)
            pdf.rect(x, y, w, h, style="DF" if fill else "D")
            if c == field_col and not shaded:
                boxes.append(_box(pdf, x, y, w, h))
            elif text:
                pdf.set_font(size=_fit_size(pdf, text, w - 2, size) if c == fit_col and not shaded else size)
                pdf.set_xy(x + 1, y + 0.5)
                pdf.multi_cell(w - 2, line, text, align=align[c] if not shaded else "C", padding=(1, 0), wrapmode="CHAR")
                pdf.set_font(size=size)
            x += w
        pdf.set_xy(pdf.l_margin, y + h)
        return h

    if header:
        draw(list(header), True)
    for cells in rows:
        draw(cells, False)
    return boxes


def _text_in(pdf: Any, x: float, y: float, w: float, h: float, text: str, size: float) -> None:
    """``text`` inside the cell (mm): the largest size from ``size`` down to 6 pt at which it fits, wrapped, vertically centred."""
    while True:
        pdf.set_font(size=size)
        need = pdf.multi_cell(w - 2, size * 0.45, text, dry_run=True, output="HEIGHT", wrapmode="CHAR")
        if need <= h - 1 or size <= 6:
            break
        size -= 0.5
    pdf.set_xy(x + 1, y + max(0.5, (h - need) / 2))
    pdf.multi_cell(w - 2, size * 0.45, text, wrapmode="CHAR")
    pdf.set_font(size=10)


def _fill_static(pdf: Any, fields: dict[str, Box], values: dict[str, str]) -> None:
    """A decided list printed without a signature (a draft or a development shortcut): the answers drawn where the fields go."""
    last = pdf.page
    for name, (page, (x1, y1, x2, y2)) in fields.items():
        if values.get(name):
            pdf.page = page + 1
            _text_in(pdf, x1 / MM, PAGE_HEIGHT_MM - y2 / MM, (x2 - x1) / MM, (y2 - y1) / MM, values[name], 10)
    pdf.page = last


def _fit_size(pdf: Any, text: str, width: float, size: float) -> float:
    widest = max((pdf.get_string_width(ln) for ln in text.split("\n")), default=0)
    return size * width / widest * 0.98 if widest > width else size


def render(document: dict[str, Any]) -> Form:
    """Table A.1, the 登记表 with both parties' columns and 签章 boxes, and the digest annex, as one PDF."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    from .exports import LIST_WIDTHS, note_lines, pdf_font

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
    align = ("C", "C", "L", "C", "C", "L", "L")
    rows = [[note_lines(row[c]) if c == "备注" else str(row[c]) for c in TABLE_A1] for row in document["rows"]]
    opinion_col = TABLE_A1.index("检测意见")
    opinions = _grid(pdf, LIST_WIDTHS, TABLE_A1, rows, line=7, align=align, min_height=20, field_col=opinion_col, fit_col=len(TABLE_A1) - 1)
    fields = {OPINION.format(n): box for n, box in enumerate(opinions, 1)}
    pdf.ln(8)
    fields.update(_signatures(pdf, document))
    pdf.ln(4)
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(0, 5, align="L", wrapmode="CHAR", text=SM2_NOTE if document.get("receiver_approval") else
                   "本清单与第 2 页《电子档案移交与接收登记表》、附表《电子档案数字摘要》为同一文件，由移交方在提交时、"
                   "接收方在答复时分别以数字签名签署（PAdES）；检测意见、接收人、接收日期及登记表接收单位各栏由接收方在签署时填写，"
                   "其签名覆盖所填内容；清单同时以 JSON 形式由双方以 CMS 签名。")
    boxes, more = _register(pdf, document, heading)
    fields.update(more)
    if document.get("decided_at") or document.get("receiver_checks") or document.get("receiver"):  # the decided list as a plain print (no fields to fill)
        _fill_static(pdf, fields, answers(document))
    _annex(pdf, document, heading)
    if document.get("receiver_approval"):
        _sm2_annex(pdf, document["receiver_approval"], heading)
    return Form(bytes(pdf.output()), boxes, fields)


def _signatures(pdf: Any, document: dict[str, Any]) -> dict[str, Box]:
    """移交人 | 接收人, 签字, 移交日期 | 接收日期, each in its own ruled cell; the receiving side's cells are fields."""
    pdf.set_font("cjk", size=12)
    if pdf.will_page_break(50):
        pdf.add_page()
    widths, heights = (24, 114, 24, 115), (9, 18, 9)
    rows = ((("移交人", str(document["transferor"])), ("接收人", RECEIVER_NAME)),
            (("签字", "已数字签章（见第 2 页移交单位签章）"), ("签字", RECEIVER_SIGNED)),
            (("移交日期", str(document["transfer_date"])), ("接收日期", RECEIVED_DATE)))
    out: dict[str, Box] = {}
    y = pdf.get_y()
    for h, pair in zip(heights, rows):
        x = pdf.l_margin
        for (key, value), (kw, vw) in zip(pair, ((widths[0], widths[1]), (widths[2], widths[3]))):
            pdf.set_fill_color(240, 240, 240)
            pdf.rect(x, y, kw, h, style="DF")
            pdf.set_xy(x + 1, y + (h - 7) / 2)
            pdf.cell(kw - 2, 7, key)
            pdf.rect(x + kw, y, vw, h)
            if value in (RECEIVER_NAME, RECEIVER_SIGNED, RECEIVED_DATE):
                out[value] = _box(pdf, x + kw, y, vw, h)
            else:
                _text_in(pdf, x + kw, y, vw, h, value, 12)
            x += kw + vw
        y += h
    pdf.set_xy(pdf.l_margin, y)
    return out


def _register(pdf: Any, document: dict[str, Any], heading: Any) -> tuple[dict[str, Box], dict[str, Box]]:
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
    rows = [[name, sent[name], ""] for name in CHECK_ROWS]
    cells = _grid(pdf, (34, 121, 122), ("检验内容", "移交单位", "接收单位"), rows, line=6, align=("L", "L", "L"), min_height=10,
                  field_col=2, first_col_shaded=True)
    fields = {RECEIVER_CHECK.format(n): box for n, box in enumerate(cells, 1)}
    pdf.ln(3)
    if pdf.will_page_break(52):
        pdf.add_page()
    sender, _ = _signing_block(pdf, "移交单位", document["transferor"], document.get("reviewer"), str(document["transfer_date"]), left=True)
    seal = "SM2 签名回执，见附件" if document.get("receiver_approval") else "见右侧数字签章"
    receiver, more = _signing_block(pdf, "接收单位", None, None, None, left=False, seal=seal)
    fields.update(more)
    return {SENDER_FIELD: sender, RECEIVER_FIELD: receiver}, fields


def _signing_block(pdf: Any, unit: str, filler: Any, reviewer: Any, day: str | None, left: bool,
                   seal: str = "见右侧数字签章") -> tuple[Box, dict[str, Box]]:
    """One unit's 填表人 / 审核人 / 单位（印章）/ 日期 lines and, beside them, the empty box its digital signature's stamp fills.

    The receiving unit's 填表人 and 日期 are fields (``filler`` None): the institution fills them as it signs.
    """
    width, height, top = 138.5, 52.0, pdf.get_y()
    x = pdf.l_margin if left else pdf.l_margin + width
    pdf.rect(x, top, width, height)
    pdf.set_xy(x + 2, top + 2)
    pdf.set_font("cjk", size=10)
    fields: dict[str, Box] = {}
    for label, value in ((f"{unit}", ""), ("填表人（签名）", filler if filler is not None else RECEIVER_FILLER),
                         ("审核人（签名）", reviewer or ""), ("单位（印章）", seal),
                         ("日期（北京时间）", day if day is not None else RECEIVER_DAY)):
        pdf.set_x(x + 2)
        pdf.set_font("cjk", size=10 if len(label) < 7 else 8)
        pdf.cell(26, 8, label)
        pdf.set_font("cjk", size=10)
        text, row = str(value), pdf.get_y()
        if text in (RECEIVER_FILLER, RECEIVER_DAY):
            fields[text] = _box(pdf, x + 28, row, VALUE_MM + 2, 8)
            pdf.set_xy(pdf.l_margin, row + 8)
            continue
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
    return (page, (box_x * MM, (PAGE_HEIGHT_MM - box_y - box_h) * MM, (box_x + box_w) * MM, (PAGE_HEIGHT_MM - box_y) * MM)), fields


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


def sm2_annex_rows(approval: dict[str, str]) -> list[tuple[str, str]]:
    """附件 接收方 SM2 签名回执确认: exactly what the window established when it took the reply, one row each."""
    return [("确认方式", "接收方以 SM2 数字签名回执确认（SM3withSM2，GB/T 32918；回执 receipt.json，签名 receipt.json.receiver.p7s）；"
                     "本清单 PDF 上无接收方签名（PDF 签名库不支持 SM2）"),
            ("回执编号", approval["reply_id"]), ("签名人", approval["signer"]), ("证书 SHA-256", approval["certificate_sha256"]),
            ("清单 SHA-256", approval["list_pdf_sha256"]), ("清单 SM3", approval["list_pdf_sm3"]),
            ("移交方核验", "接收回执时已核验：回执的 SM2 签名由该接收单位登记的 SM2 证书（上列 SHA-256）作出且有效；回执所列清单 SHA-256 与 SM3 "
                        "即移交方认证的 transfer-list.pdf 的摘要")]


def _sm2_annex(pdf: Any, approval: dict[str, str], heading: Any) -> None:
    pdf.add_page()
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, "附件：接收方以 SM2 数字签名回执确认", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    with pdf.table(col_widths=(40, 237), line_height=6, first_row_as_headings=False, text_align="LEFT") as table:
        for name, value in sm2_annex_rows(approval):
            r = table.row()
            r.cell(name, style=heading)
            r.cell(value)


def transfer_list_pdf(document: dict[str, Any], path: Path) -> Path:
    """The rendered form written to ``path`` (unsigned: for printing, or to be signed)."""
    path.write_bytes(render(document).pdf)
    return path


__all__ = ["CHECK_ROWS", "DIGEST_ALGORITHM", "PENDING", "RECEIVER_FIELD", "SENDER_FIELD", "SM2_SIGNED", "Form", "answers", "placeholders",
           "render", "sender_checks", "sm2_annex_rows", "transfer_list_pdf",
           "volume_gb"]
