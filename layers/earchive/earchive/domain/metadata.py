"""基本信息元数据.xml: the package's metadata, written and read back.

Written from the organised case and the digests computed while packing,
validated against the shipped XSD before it enters the package, and parsed
back by the checks with a parser that refuses DTDs, entities and network
access (packages at receipt are untrusted input).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lxml import etree

from .. import __version__
from .collect import CHINA_TZ, parse_time
from .layout import FOLDER_IDS
from .organise import STEP_CODES, Plan

FORMAT_NAMES = {
    "pdf": "PDF", "ofd": "OFD (GB/T 33190)", "jpg": "JPEG", "jpeg": "JPEG", "png": "PNG",
    "tif": "TIFF", "tiff": "TIFF", "xml": "XML",
}


_SCHEMA_LOCK = threading.Lock()


def schema() -> etree.XMLSchema:
    """The XSD, built once: libxml2 fails ("Internal error") when two threads build schemas at once, so one builds."""
    with _SCHEMA_LOCK:
        return _schema()


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    with resources.files("earchive").joinpath("schemas/base_info.xsd").open("rb") as f:
        return etree.XMLSchema(etree.parse(f, safe_parser()))


def safe_parser() -> etree.XMLParser:
    """No DTD loading, no entity expansion, no network, no huge trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False)


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


@dataclass
class FileDigests:
    sm3: str
    sha256: str
    size: int


def build(plan: Plan, digests: dict[str, FileDigests], archive_time: dt.datetime) -> bytes:
    """The metadata XML of the package (UTF-8, XSD-valid)."""
    case, record = plan.record.case, plan.record
    root = etree.Element("base_info", version="1.0")

    def add(parent, tag: str, value) -> None:
        if value is None or value == "":
            return
        etree.SubElement(parent, tag).text = str(value)

    applicant = case["applicant"]
    project = case.get("project") or {}
    add(root, "electronic_record_code", plan.record_code)
    add(root, "region_code", case["region_code"])
    add(root, "fonds_identifier", case["fonds_identifier"])
    add(root, "fonds_constituting_unit_name", case["fonds_unit_name"])
    add(root, "social_code", case.get("social_code"))
    add(root, "task_code", case["task_code"])
    add(root, "task_name", case["task_name"])
    add(root, "task_version", case.get("task_version"))
    add(root, "task_type", case["task_type"])
    add(root, "project_id", case["project_id"])
    add(root, "project_name", case["project_name"])
    add(root, "accept_num", case.get("accept_num"))
    add(root, "service_type", case.get("service_type"))
    add(root, "information_system_description", f"earchive {__version__}")
    add(root, "lead_department", case.get("lead_department"))
    add(root, "retention_period", case["retention_period"])
    add(root, "security_classification", case["security_classification"])
    add(root, "year", f"{plan.year:04d}")
    add(root, "archive_time", _iso(archive_time.astimezone(CHINA_TZ)))
    add(root, "apply_name", applicant["name"])
    add(root, "apply_type", applicant["type"])
    add(root, "card_type", applicant["card_type"])
    add(root, "contacted_card", applicant["card_number"])
    for tag, key in (("address", "address"), ("phone", "phone"), ("legal_man", "legal_man"),
                     ("legal_man_id_type", "legal_man_id_type"), ("legal_man_id_number", "legal_man_id_number")):
        add(root, tag, applicant.get(key))
    add(root, "is_project", "是" if project else "否")
    add(root, "project_code", project.get("project_code"))
    add(root, "project_title", project.get("project_title"))
    add(root, "project_address", project.get("project_address"))
    add(root, "receive_department", case["receive_department"])
    add(root, "receive_time", _iso(parse_time(case["receive_time"])))
    add(root, "transact_time", _iso(parse_time(case["transact_time"])))
    add(root, "result", case["result"])
    add(root, "result_code", case.get("result_code"))
    add(root, "total_number", len(plan.files))
    add(root, "total_bytes", sum(d.size for d in digests.values()))
    add(root, "remarks", case.get("remarks"))
    process_info = etree.SubElement(root, "process_info")
    for i, step in enumerate(record.process, 1):
        p = etree.SubElement(process_info, "process")
        add(p, "seq", i)
        add(p, "code", STEP_CODES[step["step"]])
        add(p, "step", step["step"])
        add(p, "actor", step["actor"])
        add(p, "department", step.get("department"))
        add(p, "time", _iso(parse_time(step["time"])))
        add(p, "opinion", step.get("opinion"))
    fileset = etree.SubElement(root, "fileset")
    for category, folder_id in FOLDER_IDS.items():
        folder = etree.SubElement(fileset, "folder", id=folder_id, title=category)
        for planned in (f for f in plan.files if f.material.category == category):
            m, d = planned.material, digests[planned.member]
            f = etree.SubElement(folder, "file")
            add(f, "seq", m.seq)
            add(f, "file_code", m.file_code or folder_id)
            add(f, "file_standard_name", m.title)
            add(f, "file_actual_name", m.file_name)
            add(f, "computer_file_name", planned.member)
            add(f, "format_information", FORMAT_NAMES.get(m.extension, m.extension.upper() or "未知"))
            add(f, "computer_file_size", d.size)
            if m.created:
                add(f, "computer_file_creation_time", _iso(m.created))
            add(f, "file_share", m.share_type)
            etree.SubElement(f, "digest", algorithm="SM3").text = d.sm3
            etree.SubElement(f, "digest", algorithm="SHA-256").text = d.sha256
            etree.SubElement(f, "source_digest", algorithm=m.digest_algorithm).text = m.digest_value
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    schema().assertValid(etree.fromstring(data, safe_parser()))
    return data


@dataclass
class FileEntry:
    """One <file> of the metadata, as read back by the checks."""

    folder: str
    seq: int | None
    fields: dict[str, str]
    digests: dict[str, str]
    source_digest: tuple[str, str] | None


@dataclass
class ParsedMetadata:
    tree: etree._Element
    fields: dict[str, str]
    process: list[dict[str, str]]
    files: list[FileEntry]
    schema_errors: list[str]


def parse(data: bytes) -> ParsedMetadata:
    """Parse the metadata XML; raises etree.XMLSyntaxError if it is not XML at all."""
    root = etree.fromstring(data, safe_parser())
    s = schema()
    s.validate(root)
    errors = [f"line {e.line}: {e.message}" for e in s.error_log]
    fields = {el.tag: (el.text or "") for el in root if isinstance(el.tag, str) and len(el) == 0}
    process = [{c.tag: (c.text or "") for c in p if isinstance(c.tag, str)} for p in root.iterfind("process_info/process")]
    files = []
    for folder in root.iterfind("fileset/folder"):
        for f in folder.iterfind("file"):
            values = {c.tag: (c.text or "") for c in f if isinstance(c.tag, str) and c.tag not in ("digest", "source_digest")}
            digests = {d.get("algorithm", ""): (d.text or "").strip() for d in f.iterfind("digest")}
            src = f.find("source_digest")
            seq_text = values.get("seq", "")
            files.append(FileEntry(
                folder=folder.get("title", ""), seq=int(seq_text) if seq_text.isdigit() else None, fields=values,
                digests=digests, source_digest=(src.get("algorithm", ""), (src.text or "").strip()) if src is not None else None,
            ))
    return ParsedMetadata(tree=root, fields=fields, process=process, files=files, schema_errors=errors)
