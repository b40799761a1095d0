"""Lists a clerk can print and sign: the 移交清单 (Table A.1) and the 归档目录清单.

XLSX with openpyxl; PDF with fpdf2 and an embedded, subset CJK font (Noto
Sans CJK SC, or ``EARCHIVE_PDF_FONT``), so the Chinese renders in any
viewer without fonts installed. Both carry signature lines for the
transferring and the receiving party. A clerk reads Chinese words for the
codes (``earchive.zh``) and Beijing time; the CSV keeps the codes beside them.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..config import current, earchive_home
from ..zh import CASE_STATUS, RETENTION, beijing, label
from .transfer import OPINION_PENDING, TABLE_A1
from .transfer_form import transfer_list_pdf as transfer_list_pdf  # re-exported: the printed list lives with its form

CATALOGUE_COLUMNS = (("序号", None), ("电子文件号", "record_code"), ("办件编号", "project_id"), ("办理事项名称", "task_name"),
                     ("事项类型", "task_type"), ("保管期限", "retention_period"), ("件数", "total_number"), ("字节数", "package_size"),
                     ("SM3 摘要", "package_sm3"), ("归档时间（北京时间）", "archived_at"), ("信息包版本", "package_version"),
                     ("状态", "status"))
CATALOGUE_WIDTHS = (6, 42, 26, 30, 14, 10, 6, 14, 68, 21, 8, 14)
CATALOGUE_CODES = (("保管期限代码", "retention_period"), ("状态代码", "status"))  # the CSV keeps the codes too, for machines
SHOWN = {"retention_period": lambda v: label(RETENTION, v), "status": lambda v: label(CASE_STATUS, v), "archived_at": beijing}
PACKAGE_COLUMNS = (("序号", 6), ("电子文件号", 42), ("办件编号", 26), ("办理事项名称", 30), ("版本", 6), ("摘要算法", 10),
                   ("数字摘要", 68), ("SHA-256", 68), ("字节数", 14), ("接收单位决定", 14), ("退回原因", 40))
LIST_WIDTHS = (12, 28, 50, 25, 22, 72, 68)  # PDF Table A.1 (mm of 277): 检测意见 holds the institution's words, 备注 one 电子文件号 a line
SC_NAME = re.compile(r"\bSC\b")  # "Noto Sans CJK SC", "Source Han Sans SC"
NOTE_BREAK = re.compile(r"(?<=[：、；])")  # 备注 "退回 2 件：<id>、<id>；…" breaks after a separator, never inside an id


def pdf_font() -> tuple[str, int]:
    """(file, face number) of the CJK font the PDF embeds, Simplified Chinese first.

    ``EARCHIVE_PDF_FONT`` (its SC face, when it is a collection), else an installed Noto Sans CJK SC
    (fontconfig), else Noto Sans CJK SC made from the bundled PyPI font (see :func:`_simplified`).
    """
    env = current().pdf_font
    if env:
        return env, _sc_face(env)
    return _installed_sc() or (str(_simplified(_bundled())), 0)


def font_path() -> str:
    return pdf_font()[0]


def _bundled() -> Path:
    import cvttf_NotoSansCJK_Regular as noto  # SIL Open Font License

    return Path(noto.__file__).parent / "NotoSansCJKtc-Regular.otf"


def _sc_face(path: str) -> int:
    """The face of a .ttc/.otc collection whose family is the Simplified-Chinese one (0 when none is, or for a single font)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    from fontTools.ttLib import TTCollection

    for n, face in enumerate(TTCollection(path, lazy=True).fonts):
        if SC_NAME.search(face["name"].getBestFamilyName() or ""):
            return n
    return 0


def _installed_sc() -> tuple[str, int] | None:
    """Noto Sans CJK SC (or another SC face) as fontconfig finds it; None when no SC face is installed."""
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}\n%{index}\n%{family}", "Noto Sans CJK SC:lang=zh-cn"],
                             capture_output=True, text=True, timeout=10, check=False).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) == 3 and SC_NAME.search(out[2]) and out[0].lower().endswith((".otf", ".ttf", ".otc", ".ttc")) and Path(out[0]).is_file():
        return out[0], int(out[1] or 0)
    return None


def _simplified(source: Path) -> Path:
    """Noto Sans CJK SC, made once from the bundled Noto Sans CJK TC and kept among earchive's local files.

    The two are one glyph set with different defaults: SC maps each character to the glyph that the TC font's
    own ``locl`` feature picks for Simplified Chinese (案 移 清 令 骨 …, and ，。、： set low-left). Only the
    character map and the names change; the outlines are copied as they are (about a second, 16 MB).
    """
    name = f"NotoSansCJKsc-Regular-{source.stat().st_size}.otf"
    for folder in (earchive_home() / "fonts", Path(current().work_dir) / "earchive-fonts"):
        target = folder / name
        if target.is_file():
            return target
        part = folder / f".{name}.{os.getpid()}.part"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _derive_sc(source, part)
            os.replace(part, target)
            return target
        except OSError:
            part.unlink(missing_ok=True)
    return source  # nowhere to keep it: the TC face, still embedded


def _derive_sc(source: Path, target: Path) -> None:
    from fontTools.ttLib import TTFont

    gsub = TTFont(source, lazy=True)["GSUB"].table  # read from a copy: saving a decompiled GSUB takes 20 s

    def locl(lang: str) -> set[int]:
        return {i for s in gsub.ScriptList.ScriptRecord if s.ScriptTag == "hani" for ls in s.Script.LangSysRecord
                if ls.LangSysTag == lang for f in ls.LangSys.FeatureIndex if gsub.FeatureList.FeatureRecord[f].FeatureTag == "locl"
                for i in gsub.FeatureList.FeatureRecord[f].Feature.LookupListIndex}

    simplified: dict[str, str] = {}
    for i in sorted(locl("ZHS ") - locl("ZHT ")):
        for sub in gsub.LookupList.Lookup[i].SubTable:
            simplified.update(getattr(getattr(sub, "ExtSubTable", sub), "mapping", None) or {})
    font = TTFont(source, lazy=True, recalcBBoxes=False, recalcTimestamp=False)  # no bounding boxes: the outlines stay unread
    for table in font["cmap"].tables:
        if table.isUnicode() and getattr(table, "cmap", None):
            table.cmap = {c: simplified.get(g, g) for c, g in table.cmap.items()}
    names = font["name"]
    for rec in list(names.names):
        text = rec.toUnicode()
        if "TC" in text or "tc-" in text:
            names.setName(text.replace("CJK TC", "CJK SC").replace("CJKtc", "CJKsc"), rec.nameID, rec.platformID, rec.platEncID, rec.langID)
    font.save(target)


def transfer_list_xlsx(document: dict[str, Any], path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side

    from .transfer_form import CHECK_ROWS, sender_checks

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
        ws.append([note_lines(row[c]) if c == "备注" else row[c] for c in TABLE_A1])
    for r in ws.iter_rows(min_row=3, max_row=ws.max_row):
        for cell in r:
            cell.border = border
            cell.alignment = Alignment(wrap_text=True, vertical="center")
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for col, width in zip("ABCDEFG", (6, 16, 30, 14, 14, 22, 44)):  # 备注: one 电子文件号 a line
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A4"
    ws.append([])
    ws.append([f"移交人：{document['transferor']}", "", "", f"接收人：{document.get('receiver') or ''}", "", f"移交日期：{document['transfer_date']}",
               f"接收日期：{document.get('received_date') or ''}"])
    ws.page_setup.orientation = "landscape"
    register = wb.create_sheet("登记表检验")  # the 登记表's 检验 rows, in the same words as the signed PDF (domain.wording)
    register.append(["检验内容", "移交单位", "接收单位"])
    sent, received = sender_checks(document), document.get("receiver_checks") or {}
    for name in CHECK_ROWS:
        register.append([name, sent[name], received.get(name) or OPINION_PENDING])
    _lay_out(register, (14, 60, 60))
    if document.get("receiver_approval"):  # an SM2-only institution's approval: its signed reply (ADR 0012), as the PDF's annex says
        from .transfer_form import sm2_annex_rows

        annex = wb.create_sheet("接收方SM2签名回执确认")
        annex.append(["项目", "内容"])
        for row in sm2_annex_rows(document["receiver_approval"]):
            annex.append(list(row))
        _lay_out(annex, (16, 120))
    packages = wb.create_sheet("归档信息包")
    packages.append([c for c, _ in PACKAGE_COLUMNS])
    for n, p in enumerate(document["packages"], 1):
        packages.append([n, p["record_code"], p["project_id"], p["task_name"], p["version"], p["digest"]["algorithm"],
                         p["digest"]["value"], p["sha256"], p["size"], label(CASE_STATUS, p.get("outcome")), p.get("reason") or ""])
    _lay_out(packages, [w for _, w in PACKAGE_COLUMNS])
    _save(wb, path)
    return path


def note_lines(note: Any) -> str:
    """备注 with a line break after each "：", "、" and "；": a 电子文件号 is never split between two lines."""
    return "\n".join(part.strip() for part in NOTE_BREAK.split(str(note or "")) if part.strip())


def catalogue_xlsx(items: list[dict[str, Any]], path: Path) -> Path:
    """归档目录清单 as XLSX: Chinese statuses and 保管期限, Beijing time."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "归档目录清单"
    ws.append([c for c, _ in CATALOGUE_COLUMNS])
    for n, item in enumerate(items, 1):
        ws.append(_catalogue_row(n, item))
    _lay_out(ws, CATALOGUE_WIDTHS)
    _save(wb, path)
    return path


def catalogue_csv(items: list[dict[str, Any]], path: Path) -> Path:
    """归档目录清单 as CSV (UTF-8 with BOM, so Excel opens the Chinese right): the XLSX columns, then the codes."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow([c for c, _ in CATALOGUE_COLUMNS + CATALOGUE_CODES])
        for n, item in enumerate(items, 1):
            codes = [_plain(item.get(key, "")) for _, key in CATALOGUE_CODES]
            w.writerow([csv_text(v) for v in _catalogue_row(n, item) + codes])
    return path


def _catalogue_row(n: int, item: dict[str, Any]) -> list[Any]:
    return [n if key is None else SHOWN[key](item.get(key)) if key in SHOWN else _plain(item.get(key, "")) for _, key in CATALOGUE_COLUMNS]


def _lay_out(ws: Any, widths: Any) -> None:
    """Fixed column widths (a 64-character digest reads whole), wrapped text, a bold header row that stays in view."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    for n, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(n)].width = width
    for row in ws.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as the start of a formula (OWASP)


def _save(wb: Any, path: Path) -> None:
    """Save a workbook in which case text stays text: earchive writes no formulas, so none may appear (review F15)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":  # openpyxl turns any string starting with "=" into a formula
                    cell.data_type = "s"
    wb.save(path)


def csv_text(v: Any) -> Any:
    """A CSV field that a spreadsheet will not evaluate: text starting like a formula gets a leading apostrophe."""
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v


def _plain(v: Any) -> Any:
    from decimal import Decimal

    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v
