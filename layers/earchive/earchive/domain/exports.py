"""Lists a clerk can print and sign: the 移交清单 (Table A.1) and the 归档目录清单.

XLSX with openpyxl; PDF with fpdf2 and an embedded, subset CJK font (Noto
Sans CJK from PyPI, or ``EARCHIVE_PDF_FONT``), so the Chinese renders in any
viewer without fonts installed. Both carry signature lines for the
transferring and the receiving party.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..config import current
from .transfer import TABLE_A1

CATALOGUE_COLUMNS = (("序号", None), ("电子文件号", "record_code"), ("办件编号", "project_id"), ("办理事项名称", "task_name"),
                     ("事项类型", "task_type"), ("保管期限", "retention_period"), ("件数", "total_number"), ("字节数", "package_size"),
                     ("SM3 摘要", "package_sm3"), ("归档时间", "archived_at"), ("状态", "status"))


def font_path() -> str:
    """A font with CJK glyphs: ``EARCHIVE_PDF_FONT``, or Noto Sans CJK from its PyPI package."""
    env = current().pdf_font
    if env:
        return env
    import cvttf_NotoSansCJK_Regular as noto  # SIL Open Font License

    return str(Path(noto.__file__).parent / "NotoSansCJKtc-Regular.otf")


def transfer_list_xlsx(document: dict[str, Any], path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    wb = Workbook()
    ws = wb.active
    ws.title = "移交清单"
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.append(["政务服务电子档案移交清单"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(TABLE_A1))
    ws["A1"].font = Font(size=16, bold=True)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([f"批次编号：{document['batch_id']}", "", f"接收单位：{document['institution_name']}"])
    ws.append(list(TABLE_A1))
    for row in document["rows"]:
        ws.append([row[c] for c in TABLE_A1])
    for r in ws.iter_rows(min_row=3, max_row=ws.max_row):
        for cell in r:
            cell.border = border
            cell.alignment = Alignment(wrap_text=True, vertical="center")
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for col, width in zip("ABCDEFG", (6, 16, 30, 14, 14, 22, 30)):
        ws.column_dimensions[col].width = width
    ws.append([])
    ws.append([f"移交人：{document['transferor']}", "", "", f"接收人：{document.get('receiver') or ''}", "", f"移交日期：{document['transfer_date']}"])
    packages = wb.create_sheet("归档信息包")
    packages.append(["序号", "电子文件号", "办件编号", "办理事项名称", "版本", "摘要算法", "数字摘要", "SHA-256", "字节数"])
    for n, p in enumerate(document["packages"], 1):
        packages.append([n, p["record_code"], p["project_id"], p["task_name"], p["version"], p["digest"]["algorithm"],
                         p["digest"]["value"], p["sha256"], p["size"]])
    ws.page_setup.orientation = "landscape"
    _save(wb, path)
    return path


def transfer_list_pdf(document: dict[str, Any], path: Path) -> Path:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    heading = FontFace(emphasis="", fill_color=(230, 230, 230))  # one CJK face: shade the headings, no bold
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.add_font("cjk", "", font_path())
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, "政务服务电子档案移交清单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    pdf.cell(0, 8, f"批次编号：{document['batch_id']}　　接收单位：{document['institution_name']}"
                   + (f"　　补交，原批次：{document['resubmits']}" if document.get("resubmits") else ""),
             new_x="LMARGIN", new_y="NEXT")
    widths = (14, 32, 80, 30, 28, 45, 48)
    with pdf.table(col_widths=widths, text_align="CENTER", line_height=7, headings_style=heading) as table:
        header = table.row()
        for c in TABLE_A1:
            header.cell(c)
        for row in document["rows"]:
            r = table.row()
            for c in TABLE_A1:
                r.cell(str(row[c]))
    pdf.ln(14)
    pdf.set_font("cjk", size=12)
    pdf.cell(90, 8, f"移交人：{document['transferor']}　　签字：__________")
    pdf.cell(90, 8, f"接收人：{document.get('receiver') or '__________'}　　签字：__________")
    pdf.cell(0, 8, f"移交日期：{document['transfer_date']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(0, 5, "本清单同时以 JSON 形式由移交方与接收方分别以数字签名（CMS）签署；各归档信息包的 SM3 摘要见附表。")
    pdf.add_page()
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, "附表：归档信息包及其数字摘要（SM3）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=7)
    with pdf.table(col_widths=(10, 70, 40, 55, 100), line_height=5, headings_style=heading) as table:
        h = table.row()
        for c in ("序号", "电子文件号", "办件编号", "办理事项名称", "SM3"):
            h.cell(c)
        for n, p in enumerate(document["packages"], 1):
            r = table.row()
            for v in (n, p["record_code"], p["project_id"], p["task_name"], p["digest"]["value"]):
                r.cell(str(v))
    pdf.output(str(path))
    return path


def catalogue_xlsx(items: list[dict[str, Any]], path: Path) -> Path:
    """归档目录清单 as XLSX."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "归档目录清单"
    ws.append([c for c, _ in CATALOGUE_COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for n, item in enumerate(items, 1):
        ws.append([n if key is None else _plain(item.get(key, "")) for _, key in CATALOGUE_COLUMNS])
    _save(wb, path)
    return path


def catalogue_csv(items: list[dict[str, Any]], path: Path) -> Path:
    """归档目录清单 as CSV (UTF-8 with BOM, so Excel opens the Chinese right)."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow([c for c, _ in CATALOGUE_COLUMNS])
        for n, item in enumerate(items, 1):
            w.writerow([n if key is None else _csv_text(_plain(item.get(key, ""))) for _, key in CATALOGUE_COLUMNS])
    return path


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula (OWASP)


def _save(wb: Any, path: Path) -> None:
    """Save a workbook in which case text stays text: earchive writes no formulas, so none may appear (review F15)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # openpyxl turns any string starting with "=" into a formula
                    cell.data_type = "s"
    wb.save(path)


def _csv_text(v: Any) -> Any:
    """A CSV field that a spreadsheet will not evaluate: text starting like a formula gets a leading apostrophe."""
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v


def _plain(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v
