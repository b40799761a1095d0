"""Realistic sample cases: what a provincial platform would upload for one 办件.

Materials are real files in the formats the archive expects: a PDF with
Chinese text (Adobe-GB1 STSong-Light, no embedded font) and an optional
"scanned page" image whose size is set by ``--size-mb``, a GB/T 33190 OFD,
a JPEG photo of a certificate, and an e-licence XML. Identity numbers carry
valid check digits (GB 11643, GB 32100) so the value checks see real data.
Everything streams, so a 2 GB sample takes no more memory than a small one.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from earchive.crypto.digests import StreamDigest
from earchive.domain.identifiers import USCC_CHARS, id_card_check_digit, uscc_check_char

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
    "姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向常汤康易乔赖文"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强晓明海燕玉兰红梅湘云湘军永红卫东"
ITEMS = [
    ("行政权力事项", "食品经营许可", "430000000101", "准予许可", "食品经营许可证"),
    ("行政权力事项", "建设工程规划许可证核发", "430000000202", "准予许可", "建设工程规划许可证"),
    ("行政权力事项", "个体工商户设立登记", "430000000303", "准予登记", "个体工商户营业执照"),
    ("行政权力事项", "药品零售企业许可", "430000000404", "准予许可", "药品经营许可证"),
    ("公共服务事项", "社会保障卡申领", "430000000505", "办结", "社会保障卡"),
    ("公共服务事项", "城乡居民基本养老保险参保登记", "430000000606", "办结", "参保登记凭证"),
    ("公共服务事项", "不动产登记资料查询", "430000000707", "办结", "查询结果证明"),
]
REGIONS = [("430102", "长沙市芙蓉区"), ("430203", "株洲市芦淞区"), ("430302", "湘潭市雨湖区"), ("430405", "衡阳市珠晖区"), ("430602", "岳阳市岳阳楼区")]
CLERKS = ["综合受理窗口", "审批服务科", "行政审批局", "政务服务中心"]
DEFECTS = ("digest", "truncated", "empty", "undeclared", "missing-metadata", "eicar", "bad-pdf", "gbk-names")


def id_card_number(rng: random.Random, region: str, birth: dt.date) -> str:
    """A citizen ID number (GB 11643-1999) with a correct check digit."""
    body = f"{region}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + id_card_check_digit(body)


def social_credit_code(rng: random.Random, region: str) -> str:
    """A unified social credit code (GB 32100-2015) with a correct check character."""
    body = "11" + region + "".join(rng.choice(USCC_CHARS) for _ in range(9))
    return body + uscc_check_char(body)


class _HashingWriter:
    """Write to a file and digest what was written, in one pass."""

    def __init__(self, f: BinaryIO, progress: Callable[[int], None] | None = None):
        self.f, self.md, self.pos, self.progress = f, StreamDigest(), 0, progress

    def write(self, data: bytes) -> None:
        self.f.write(data)
        self.md.update(bytes(data))
        self.pos += len(data)
        if self.progress is not None:
            self.progress(len(data))


def _pdf_text(s: str) -> str:
    return "<" + s.encode("utf-16-be").hex().upper() + ">"


def write_pdf(out: _HashingWriter, title: str, lines: list[str], image_bytes: int, rng: random.Random) -> None:
    """A valid PDF with Chinese text; ``image_bytes`` > 0 adds a grey scan image of about that size."""
    offsets: list[int] = []

    def obj(body: bytes) -> None:
        offsets.append(out.pos)
        out.write(f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n")

    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    has_image = image_bytes > 0
    text_ops = ["BT", "/F1 20 Tf", "72 770 Td", f"{_pdf_text(title)} Tj", "/F1 12 Tf", "0 -36 Td"]
    for line in lines:
        text_ops += [f"{_pdf_text(line)} Tj", "0 -20 Td"]
    text_ops.append("ET")
    content = ("q 451 0 0 300 72 300 cm /Im1 Do Q\n" if has_image else "").encode() + "\n".join(text_ops).encode()
    resources = b"/Font << /F1 5 0 R >>" + (b" /XObject << /Im1 8 0 R >>" if has_image else b"")
    obj(b"<< /Type /Catalog /Pages 2 0 R /Lang (zh-CN) >>")
    obj(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    obj(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << " + resources + b" >> /Contents 4 0 R >>")
    obj(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
    obj(b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>")
    obj(b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) "
        b"/Supplement 4 >> /FontDescriptor 7 0 R /DW 1000 >>")
    obj(b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 "
        b"/Descent -120 /CapHeight 880 /StemV 93 >>")
    info = f"<< /Title {_pdf_text(title)} /Producer (earchive sample-case) /CreationDate (D:20260101000000+08'00') >>".encode()
    if has_image:
        width = 2000
        height = max(1, image_bytes // width)
        offsets.append(out.pos)
        out.write(f"8 0 obj\n<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
                  f"/BitsPerComponent 8 /Length {width * height} >>\nstream\n".encode())
        left = width * height
        while left:
            n = min(left, 1 << 20)
            out.write(rng.randbytes(n))
            left -= n
        out.write(b"\nendstream\nendobj\n")
        obj(info)
    else:
        obj(b"<< /Type /Metadata /Subtype /XML /Length 0 >>\nstream\n\nendstream")  # keeps object numbers stable
        obj(info)
    xref = out.pos
    lines_xref = [f"xref\n0 {len(offsets) + 1}\n", "0000000000 65535 f \n"] + [f"{o:010d} 00000 n \n" for o in offsets]
    out.write("".join(lines_xref).encode())
    out.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R /Info {len(offsets)} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())


OFD_NS = "http://www.ofdspec.org/2016"


def ofd_bytes(title: str, lines: list[str], doc_id: str) -> bytes:
    """A small GB/T 33190 OFD document (one page of text)."""
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    texts = "".join(
        f'<ofd:TextObject ID="{10 + i}" Boundary="20 {20 + 10 * i} 170 10" Font="2" Size="{6 if i == 0 else 4}">'
        f'<ofd:TextCode X="0" Y="5">{esc(t)}</ofd:TextCode></ofd:TextObject>'
        for i, t in enumerate([title] + lines)
    )
    parts = {
        "OFD.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD xmlns:ofd="{OFD_NS}" DocType="OFD" Version="1.0">'
                   f'<ofd:DocBody><ofd:DocInfo><ofd:DocID>{doc_id}</ofd:DocID><ofd:Title>{esc(title)}</ofd:Title>'
                   f'<ofd:Creator>earchive sample-case</ofd:Creator><ofd:CreationDate>2026-01-01</ofd:CreationDate></ofd:DocInfo>'
                   f'<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>',
        "Doc_0/Document.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData>'
                              f'<ofd:MaxUnitID>{20 + len(lines)}</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>'
                              f'</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>'
                              f'<ofd:Pages><ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>',
        "Doc_0/PublicRes.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts>'
                               f'<ofd:Font ID="2" FontName="宋体" FamilyName="宋体"/></ofd:Fonts></ofd:Res>',
        "Doc_0/Pages/Page_0/Content.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content>'
                                          f'<ofd:Layer ID="3">{texts}</ofd:Layer></ofd:Content></ofd:Page>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text.encode("utf-8"))
    return buf.getvalue()


def jpeg_bytes(rng: random.Random, label: str) -> bytes:
    """A photo-like JPEG (a card on a gradient), as a scanner would produce."""
    from PIL import Image, ImageDraw

    w, h = 856, 540
    img = Image.new("RGB", (w, h))
    base = [rng.randrange(140, 230) for _ in range(3)]
    draw = ImageDraw.Draw(img)
    for y in range(h):
        draw.line([(0, y), (w, y)], fill=tuple(max(0, c - y // 8) for c in base))
    draw.rounded_rectangle([40, 40, w - 40, h - 40], radius=24, outline=(30, 30, 90), width=4)
    for i in range(6):
        draw.rectangle([80, 100 + 55 * i, 80 + rng.randrange(200, 600), 130 + 55 * i], fill=(60, 60, 60))
    draw.text((80, 60), label.encode("ascii", "ignore").decode() or "ID", fill=(0, 0, 0))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def licence_xml(fields: dict[str, str]) -> bytes:
    from lxml import etree

    root = etree.Element("electronic_license", version="1.0")
    for k, v in fields.items():
        etree.SubElement(root, k).text = v
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass
class SampleCase:
    folder: Path
    project_id: str
    case: dict


def sample_case(
    out_dir: str | Path,
    *,
    seed: int = 1,
    files: int = 5,
    size_mb: float = 0.0,
    big_files: int = 1,
    defect: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    remarks: str | None = None,
    region: str | None = None,
    fonds: str | None = None,
) -> SampleCase:
    """Write one realistic case folder (case.json + materials) and return it.

    A folder of the same case from an earlier run is replaced, never added to (stale materials
    would be undeclared files, newcomer P7). ``progress(done, total)`` follows large cases.
    ``size_mb`` is the scan in each of the first ``big_files`` PDFs (a case of many large files). ``fonds``: the 全宗号
    (default: derived from the region, e.g. 0102), so a stack that keeps named fonds only takes the case.
    """
    if defect and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; choose from {', '.join(DEFECTS)}")
    files = max(3, files)
    rng = random.Random(seed)
    task_type, task_name, task_code, result, licence = rng.choice(ITEMS)
    chosen = rng.choice(REGIONS)
    # ``region``: one window's cases (a demo whose batches stay within one institution's competence); the seed still drives the rest
    region, region_name = (region, dict(REGIONS).get(region, region)) if region else chosen
    person = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.5 else "")
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000))
    received = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))) + dt.timedelta(
        days=rng.randrange(300), minutes=rng.randrange(480))
    finished = received + dt.timedelta(days=rng.randrange(1, 15), hours=rng.randrange(6))
    project_id = f"{region}{received:%Y%m%d}{seed:06d}"
    folder = Path(out_dir) / f"case-{project_id}"
    if folder.exists():
        if not (folder / "case.json").is_file() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not a sample case (no case.json): not replacing it")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    company = f"{region_name[:3]}{rng.choice(['湘江', '岳麓', '洞庭', '韶山', '芙蓉'])}{rng.choice(['餐饮', '商贸', '建设', '医药', '科技'])}有限公司"

    # Material templates: (category, file_code, title, file name, kind)
    templates = [
        ("申报文件", "A1", f"{task_name}申请表", f"{task_name}申请表.pdf", "pdf"),
        ("申报文件", "A2", "申请人身份证明", "身份证正反面.jpg", "jpg"),
        ("过程文件", "B1", "收件材料接收凭证", "收件凭证.pdf", "pdf"),
        ("结果文件", "C1", f"{result}决定书", f"{result}决定书.ofd", "ofd"),
        ("结果文件", "C2", f"{licence}（电子证照数据）", f"{licence}.xml", "xml"),
        ("申报文件", "A3", "现场照片", "现场照片.jpg", "jpg"),
        ("过程文件", "B2", "审查意见表", "审查意见表.pdf", "pdf"),
        ("申报文件", "A4", "承诺书", "信用承诺书.ofd", "ofd"),
    ]
    # a finished case always carries a 结果文件 (the 4th template), however few files are asked for
    chosen = [templates[i] for i in (0, 1, 3)] if files < 4 else [templates[i % len(templates)] for i in range(files)]
    pdfs = [i for i, t in enumerate(chosen) if t[4] == "pdf"]
    big = set(pdfs[:max(1, big_files)])  # the application PDF (and more when asked) carries the scan that sets the size
    padding = int(size_mb * 1024 * 1024)
    written = [0]

    def advance(n: int) -> None:
        written[0] += n
        if progress is not None and padding:
            progress(min(written[0], padding * len(big)), padding * len(big))
    materials = []
    subdir = folder / "materials"
    subdir.mkdir(exist_ok=True)
    for i, (category, code, title, name, kind) in enumerate(chosen, 1):
        if i > len(templates):
            stem, ext = name.rsplit(".", 1)
            name = f"{stem}（{i}）.{ext}"
        if defect == "gbk-names" and i == 1:
            name = f"{task_name}申请表（扫描件）.pdf"
        path = subdir / name
        lines = [f"办件编号：{project_id}", f"申请人：{person}", f"事项：{task_name}",
                 f"受理时间：{received:%Y年%m月%d日}", f"{region_name}政务服务中心"]
        with open(path, "wb") as f:
            w = _HashingWriter(f, advance)
            if kind == "pdf":
                if defect == "bad-pdf" and i == 1:
                    w.write(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% not a complete PDF\n")
                else:
                    write_pdf(w, title, lines, padding if i - 1 in big else 0, rng)
            elif kind == "jpg":
                w.write(jpeg_bytes(rng, f"{project_id}-{i}"))
            elif kind == "ofd":
                w.write(ofd_bytes(title, lines, f"{rng.getrandbits(128):032x}"))
            else:
                w.write(licence_xml({"license_name": licence, "license_number": f"{region}{rng.randrange(10**9):09d}",
                                     "holder": company, "holder_code": social_credit_code(rng, region),
                                     "issue_date": f"{finished:%Y-%m-%d}", "issuer": f"{region_name}行政审批服务局"}))
            if defect == "eicar" and i == 2:
                w.write(EICAR)
            digests = w.md.hexdigests()
        algorithm = "SM3" if i % 2 else "SHA-256"
        materials.append({
            "seq": i, "category": category, "file_code": code, "title": title,
            "file_name": f"materials/{name}", "size": w.pos,
            "digest": {"algorithm": algorithm, "value": digests[algorithm]},
            "created": (received + dt.timedelta(minutes=i)).isoformat(timespec="seconds"),
            "share_type": "有条件共享",
        })
    case = {
        "project_id": project_id, "accept_num": f"SL{project_id[-10:]}", "project_name": f"{company}{task_name}",
        "task_code": task_code, "task_name": task_name, "task_version": "1", "task_type": task_type,
        "service_type": "承诺件", "region_code": region, "fonds_identifier": fonds or f"{int(region[2:]):04d}"[-4:],
        "fonds_unit_name": f"{region_name}行政审批服务局", "social_code": social_credit_code(rng, region),
        "lead_department": rng.choice(CLERKS), "receive_department": f"{region_name}政务服务中心",
        "receive_time": received.isoformat(timespec="seconds"), "transact_time": finished.isoformat(timespec="seconds"),
        "result": result, "result_code": f"{licence[:2]}{rng.randrange(10**8):08d}",
        "retention_period": rng.choice(["Y", "D30", "D10"]), "security_classification": "公开",
        "applicant": {"name": person, "type": "自然人", "card_type": "居民身份证",
                      "card_number": id_card_number(rng, region, birth), "address": f"湖南省{region_name}人民路{rng.randrange(1, 300)}号",
                      "phone": f"1{rng.randrange(30, 99)}{rng.randrange(10**8):08d}"},
    }
    process = [
        {"step": "收件", "actor": rng.choice(SURNAMES) + rng.choice(GIVEN), "department": "综合受理窗口",
         "time": received.isoformat(timespec="seconds"), "opinion": "材料齐全，予以收件"},
        {"step": "受理", "actor": rng.choice(SURNAMES) + rng.choice(GIVEN), "department": "综合受理窗口",
         "time": (received + dt.timedelta(minutes=20)).isoformat(timespec="seconds"), "opinion": "符合法定形式，予以受理"},
        {"step": "审核", "actor": rng.choice(SURNAMES) + rng.choice(GIVEN), "department": "审批服务科",
         "time": (received + dt.timedelta(days=1)).isoformat(timespec="seconds"), "opinion": "经审查，符合条件"},
        {"step": "办结", "actor": rng.choice(SURNAMES) + rng.choice(GIVEN), "department": "审批服务科",
         "time": finished.isoformat(timespec="seconds"), "opinion": result},
    ]
    if remarks:
        case["remarks"] = remarks
    data = {"schema_version": "1.0", "case": case, "process": process, "materials": materials}
    _apply_defect(defect, folder, data, rng)
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
    return SampleCase(folder=folder, project_id=project_id, case=case)


def _apply_defect(defect: str | None, folder: Path, data: dict, rng: random.Random) -> None:
    """Break one thing on purpose, the way real uploads break."""
    first = data["materials"][0]
    target = folder / first["file_name"]
    if defect == "digest":
        first["digest"]["value"] = "0" * 64
    elif defect == "truncated":
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) // 2])  # declared size and digest stay those of the whole file
    elif defect == "empty":
        target.write_bytes(b"")
        first["size"] = 0
    elif defect == "undeclared":
        (folder / "materials" / "未登记的附件.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    elif defect == "missing-metadata":
        del data["case"]["transact_time"]


class _LegacyNameInfo(zipfile.ZipInfo):
    """A member whose name bytes are written as given, without the UTF-8 flag (GBK-era tools)."""

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's private hook
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


def zip_case(folder: Path, out: Path, *, gbk_names: bool = False, progress: Callable[[int, int], None] | None = None) -> Path:
    """Zip a case folder as a platform would; ``gbk_names`` writes names in GBK without the UTF-8 flag.

    ``progress(done, total)`` is called as bytes go in (a 2 GB case takes a minute).
    """
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    total, done = sum(p.stat().st_size for p in files), 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            name = path.relative_to(folder).as_posix()
            info = (_LegacyNameInfo(name.encode("gbk").decode("cp437"), date_time=(2026, 1, 1, 0, 0, 0)) if gbk_names
                    else zipfile.ZipInfo.from_file(path, name))
            info.compress_type, info.file_size = zipfile.ZIP_DEFLATED, path.stat().st_size  # the size decides zip64
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
    return out
