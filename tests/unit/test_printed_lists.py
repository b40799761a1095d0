"""The printed lists read right (P13): a footer nothing runs into, whole 电子文件号, readable sheets, Chinese words,
Beijing time, and the Simplified-Chinese face of Noto Sans CJK embedded."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from earchive.domain import exports
from earchive.domain.exports import catalogue_csv, catalogue_xlsx, note_lines, transfer_list_pdf, transfer_list_xlsx

INSTITUTION = "长沙市芙蓉区行政审批服务局政务服务中心档案室"[:20]
IDS = [f"430102-0102-430000000707-2026-Y-00000{i}" for i in range(1, 5)]
NOTE = "退回 2 件：" + "、".join(IDS[:2]) + "；未接收（移出本批次） 2 件：" + "、".join(IDS[2:])
ID = re.compile(r"\d{6}-[0-9A-Z-]+")


def document(transferor: str = "窗口经办人欧阳明月", receiver: str | None = "档案馆接收人司马相如", note: str = NOTE, **extra):
    return {"batch_id": "202611250001", "institution_name": INSTITUTION, "transferor": transferor, "receiver": receiver,
            "transfer_date": "2026-11-25", "resubmits": None, **extra,
            "rows": [{"序号": 1, "批次编号": "202611250001", "办理事项名称": "企业设立登记", "事项类型": "行政权力事项",
                      "归档信息包数量": 4, "检测意见": "合格 2 件，不合格 2 件", "备注": note}],
            "packages": [{"record_code": i, "project_id": "P1", "task_name": "企业设立登记", "version": 1,
                          "digest": {"algorithm": "SM3", "value": "a" * 64}, "sha256": "b" * 64, "size": 1} for i in IDS]}


def text_runs(path: Path) -> list[dict]:
    """Every shown string with its page, start x, baseline y (from the top, pt), size and width (the embedded font's advances)."""
    from fpdf import FPDF

    file, face = exports.pdf_font()
    meter = FPDF()
    meter.add_font("m", "", file, collection_font_number=face)
    runs: list[dict] = []
    for n, page in enumerate(PdfReader(path).pages):
        height, width = float(page.mediabox.height), float(page.mediabox.width)

        def visit(text, cm, tm, font, size, n=n, height=height, width=width):
            text = text.replace("\x00", "").strip()  # pypdf pads this CID font's codes with NULs and puts a space before a moved run
            if text:
                meter.set_font("m", size=size)
                runs.append({"page": n, "text": text, "x": tm[4] * cm[0] + cm[4], "y": height - (tm[5] * cm[3] + cm[5]),
                             "size": size, "width": meter.get_string_width(text) * 72 / 25.4, "page_width": width})

        page.extract_text(visitor_text=visit)
    return runs


def overlaps(runs: list[dict]) -> list[tuple[str, str]]:
    """Pairs of strings whose boxes (advance width × ascent+descent) intersect on a page."""
    def box(r):
        return r["x"], r["x"] + r["width"], r["y"] - 0.88 * r["size"], r["y"] + 0.12 * r["size"]

    found = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            (ax0, ax1, ay0, ay1), (bx0, bx1, by0, by1) = box(a), box(b)
            if a["page"] == b["page"] and ax0 < bx1 - 0.5 and bx0 < ax1 - 0.5 and ay0 < by1 and by0 < ay1:
                found.append((a["text"], b["text"]))
    return found


@pytest.mark.parametrize("transferor,receiver", [("窗口经办人欧阳明月", "档案馆接收人司马相如"), ("李敏", None),
                                                 ("长沙市芙蓉区政务服务中心综合窗口首席代办员欧阳明月同志", "芙蓉区档案馆电子档案接收组组长司马相如")])
def test_the_footer_has_room_for_any_name(tmp_path, transferor, receiver):
    """1: 移交人, 接收人, 签字 and the dates sit in cells of their own; no string touches another at any name length."""
    runs = text_runs(transfer_list_pdf(document(transferor, receiver), tmp_path / "list.pdf"))
    assert overlaps(runs) == []
    assert all(r["x"] + r["width"] <= r["page_width"] - 28 for r in runs), "everything inside the right margin (10 mm)"
    texts = [r["text"] for r in runs]
    for label in ("移交人", "接收人", "签字", "移交日期", "接收日期"):
        assert label in texts
    assert texts.count("签字") == 2 and "2026-11-25" in texts
    assert transferor[:8] in "".join(texts) and (receiver is None or receiver[:8] in "".join(texts))


def test_the_old_footer_would_have_overlapped():
    """The measure bites: the strings the old footer put in 90 mm cells overlap at these names."""
    runs = [{"page": 0, "text": t, "x": x, "y": 358.0, "size": 12, "width": w} for t, x, w in
            (("移交人：窗口经办人欧阳明月　　签字：__________", 31.2, 283.1), ("接收人：档案馆接收人司马相如　　签字：__________", 286.3, 295.1),
             ("移交日期：2026-11-25", 541.4, 121.6))]
    assert len(overlaps(runs)) == 2


def test_a_record_code_is_never_split(tmp_path):
    """2: 备注 breaks after "：", "、", "；" only; every 电子文件号 is one whole line of the PDF and of the XLSX cell."""
    assert note_lines(NOTE).split("\n") == ["退回 2 件：", IDS[0] + "、", IDS[1] + "；", "未接收（移出本批次） 2 件：", IDS[2] + "、", IDS[3]]
    assert note_lines("补交（原批次 202611240001）") == "补交（原批次 202611240001）" and note_lines(None) == ""
    long_ids = [f"430102-0102-430000000707-2026-D30-0000000000{i}-EXTRA" for i in range(2)]  # wider than the column: set smaller
    for note, ids in ((NOTE, IDS), ("退回 2 件：" + "、".join(long_ids), long_ids)):
        runs = text_runs(transfer_list_pdf(document(note=note), tmp_path / "list.pdf"))
        whole = [r["text"].rstrip("、；") for r in runs if r["page"] == 0 and ID.search(r["text"])]
        assert whole == ids
    ws = load_workbook(transfer_list_xlsx(document(), tmp_path / "list.xlsx"))["移交清单"]
    assert [line.rstrip("、；") for line in ws["G4"].value.split("\n") if ID.search(line)] == IDS
    assert ws.column_dimensions["G"].width >= len(IDS[0]) + 2 and ws["G4"].alignment.wrap_text


def catalogue_item(**extra):
    return {"record_code": IDS[0], "project_id": "P1", "task_name": "企业设立登记", "task_type": "行政权力事项",
            "retention_period": "Y", "total_number": 3, "package_size": 12345, "package_sm3": "c" * 64,
            "archived_at": "2026-11-25T09:44:36Z", "status": "ACCEPTED", **extra}


def test_sheets_have_widths_wrapping_and_a_frozen_header(tmp_path):
    """3: 归档信息包 and 归档目录清单 show a 64-character digest and a 电子文件号 whole; the header row stays in view."""
    packages = load_workbook(transfer_list_xlsx(document(), tmp_path / "list.xlsx"))["归档信息包"]
    catalogue = load_workbook(catalogue_xlsx([catalogue_item()], tmp_path / "cat.xlsx"))["归档目录清单"]
    for ws, wide in ((packages, ("数字摘要", "SHA-256")), (catalogue, ("SM3 摘要",))):
        header = {c.value: c.column_letter for c in ws[1]}
        assert ws.freeze_panes == "A2"
        assert all(ws.column_dimensions[letter].width for letter in header.values()), "every column has a set width"
        for name in wide:
            assert ws.column_dimensions[header[name]].width >= 66
        assert ws.column_dimensions[header["电子文件号"]].width >= len(IDS[0]) + 2
        assert all(c.alignment.wrap_text for row in ws.iter_rows() for c in row)
        assert all(c.font.bold for c in ws[1])


def test_lists_say_statuses_and_retention_in_chinese_at_beijing_time(tmp_path):
    """4, 5: 已移交接收 not ACCEPTED, 永久/30年/10年 not Y/D30/D10, 归档时间 in Beijing time; the CSV keeps the codes beside."""
    items = [catalogue_item(), catalogue_item(retention_period="D30", status="ARCHIVED", archived_at="2026-11-25T16:30:00+00:00"),
             catalogue_item(retention_period="D10", status=None, archived_at=None)]
    ws = load_workbook(catalogue_xlsx(items, tmp_path / "cat.xlsx"))["归档目录清单"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    header = rows[0]
    at = {name: header.index(name) for name in ("保管期限", "状态", "归档时间（北京时间）")}
    assert [r[at["保管期限"]] for r in rows[1:]] == ["永久", "30年", "10年"]
    assert [r[at["状态"]] for r in rows[1:]] == ["已移交接收", "已归档", "—"]
    assert [r[at["归档时间（北京时间）"]] for r in rows[1:]] == ["2026-11-25 17:44:36", "2026-11-26 00:30:00", "—"]
    assert not {"ACCEPTED", "ARCHIVED", "Y", "D30", "D10"} & {v for r in rows for v in r}
    with open(catalogue_csv(items, tmp_path / "cat.csv"), encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    assert table[0][-2:] == ["保管期限代码", "状态代码"] and table[0][:len(header)] == header
    assert [r[-2:] for r in table[1:]] == [["Y", "ACCEPTED"], ["D30", "ARCHIVED"], ["D10", ""]]
    assert [r[at["状态"]] for r in table[1:]] == ["已移交接收", "已归档", "—"]
    assert table[1][at["归档时间（北京时间）"]] == "2026-11-25 17:44:36"
    runs = text_runs(transfer_list_pdf(document(decided_at="2026-11-25T17:00:00Z"), tmp_path / "receipt.pdf"))
    assert "2026-11-26" in [r["text"] for r in runs], "接收日期 is the Beijing date of the decision"
    assert not [r for r in runs if re.search(r"\d{2}:\d{2}:\d{2}|T\d{2}:|Z\b", r["text"])]


def test_the_pdf_embeds_the_simplified_chinese_face(tmp_path):
    """6: the embedded font is Noto Sans CJK SC: 案 and ， take their Simplified-Chinese glyphs, not the TC font's defaults."""
    from fontTools.ttLib import TTFont

    pdf = PdfReader(transfer_list_pdf(document(), tmp_path / "list.pdf"))
    fonts = {f.get_object()["/BaseFont"]: f.get_object() for page in pdf.pages for f in page["/Resources"]["/Font"].values()}
    assert len(fonts) == 1 and "SC" in next(iter(fonts)), fonts.keys()
    descriptor = next(iter(fonts.values()))["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
    assert "/FontFile3" in descriptor or "/FontFile2" in descriptor, "embedded, not left to the viewer"
    file, face = exports.pdf_font()  # an installed collection (fonts-noto-cjk's .ttc) gives its SC face
    sc, tc = TTFont(file, lazy=True, fontNumber=face), TTFont(exports._bundled(), lazy=True)
    if file != str(exports._bundled()):
        assert "SC" in sc["name"].getBestFamilyName()
    made = TTFont(exports._simplified(exports._bundled()), lazy=True)
    assert made["name"].getBestFamilyName() == "Noto Sans CJK SC"
    for ch in "案清令，。":
        assert made.getBestCmap()[ord(ch)] != tc.getBestCmap()[ord(ch)], ch
    for ch in "政务服务电子档":  # shared forms stay
        assert made.getBestCmap()[ord(ch)] == tc.getBestCmap()[ord(ch)], ch


def test_a_font_collection_gives_its_sc_face(tmp_path, monkeypatch):
    """6: EARCHIVE_PDF_FONT may name a .ttc such as NotoSansCJK-Regular.ttc: the SC face is the one embedded."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTCollection

    faces = []
    for family in ("Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK SC", "Noto Sans CJK TC"):
        fb = FontBuilder(1000, isTTF=True)
        fb.setupGlyphOrder([".notdef", "uni6848"])
        fb.setupCharacterMap({0x6848: "uni6848"})
        pen = TTGlyphPen(None)
        pen.moveTo((0, 0)), pen.lineTo((0, 800)), pen.lineTo((800, 800)), pen.closePath()
        fb.setupGlyf({".notdef": pen.glyph(), "uni6848": pen.glyph()})
        fb.setupHorizontalMetrics({".notdef": (1000, 0), "uni6848": (1000, 0)})
        fb.setupHorizontalHeader(ascent=880, descent=-120)
        fb.setupNameTable({"familyName": family, "styleName": "Regular"})
        fb.setupOS2(), fb.setupPost()
        faces.append(fb.font)
    collection = TTCollection()
    collection.fonts = faces
    path = tmp_path / "NotoSansCJK-Regular.ttc"
    collection.save(str(path))
    monkeypatch.setenv("EARCHIVE_PDF_FONT", str(path))
    assert exports.pdf_font() == (str(path), 2)
    monkeypatch.setenv("EARCHIVE_PDF_FONT", str(exports._bundled()))
    assert exports.pdf_font() == (str(exports._bundled()), 0)
