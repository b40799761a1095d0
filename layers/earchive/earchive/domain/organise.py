"""Organise (整理): classify, order and name one case as one package (一事一件).

The case is classified by its 事项类型 (行政权力事项 / 公共服务事项), its
materials are filed into 申报文件 / 过程文件 / 结果文件 in 件内顺序号 order, and
it gets its 电子文件号 ``region-fonds-item-year-retention-serial`` (the naming
seen in field implementations; the DA/T 85 text itself was not available, see
docs/standards.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..config import earchive_home
from ..errors import EarchiveError, Problem
from ..locks import exclusive
from .collect import CHINA_TZ, CaseRecord, Material, parse_time
from .layout import CATEGORIES, FOLDER_IDS

# Process step codes of the field implementations (1 收件 … 99 其他).
STEP_CODES = {"收件": 1, "受理": 2, "审核": 3, "审批": 5, "决定": 6, "办结": 4, "补齐补正": 11, "挂起": 12, "送达": 7, "其他": 99}
REQUIRED_STEPS = ("受理", "办结")
MAX_NAME_BYTES = 240


@dataclass
class PlannedFile:
    """Where one material goes in the package."""

    material: Material
    member: str  # path inside the package, e.g. 申报文件/001-营业执照.pdf

    @property
    def folder_id(self) -> str:
        return FOLDER_IDS[self.material.category]


@dataclass
class Plan:
    """The organised case: its code, its files in order, and its year."""

    record: CaseRecord
    record_code: str
    year: int
    files: list[PlannedFile]

    @property
    def package_name(self) -> str:
        return f"{self.record_code}.zip"


def record_code(case: dict, year: int, serial: int) -> str:
    """The 电子文件号 of a case: region-fonds-item-year-retention-serial."""
    return f"{case['region_code']}-{case['fonds_identifier']}-{case['task_code']}-{year:04d}-{case['retention_period']}-{serial:06d}"


def member_name(material: Material) -> str:
    """``<category>/<seq>-<original name>``: stable order, no collisions, original name kept."""
    base = unicodedata.normalize("NFC", PurePosixPath(material.file_name).name)
    name = f"{material.category}/{material.seq:03d}-{base}"
    while len(name.encode("utf-8")) > MAX_NAME_BYTES:  # shorten the stem, keep the extension
        stem, dot, ext = base.rpartition(".")
        base = (stem[:-1] + dot + ext) if stem else base[:-1]
        name = f"{material.category}/{material.seq:03d}-{base}"
    return name


def case_rules(data: dict) -> list[Problem]:
    """The rules a case.json must meet beyond its schema (一事一件: 受理 … 办结 in order, 申报 and 结果 materials, seq 1..n).

    On the case.json itself, so the console's form checks the same rules before anything is sent.
    """
    case, process, materials = data["case"], data["process"], data["materials"]
    case_id = case["project_id"]
    problems = []
    steps = [p["step"] for p in process]
    for required in REQUIRED_STEPS:
        if required not in steps:
            problems.append(Problem("PROCESS-INCOMPLETE", f"the process record has no {required} step", case_id, "case.json"))
    times = [parse_time(p["time"]) for p in process]
    for i, (a, b) in enumerate(zip(times, times[1:]), 1):
        if b < a:
            problems.append(Problem("PROCESS-INCOMPLETE", f"process step {i + 1} ({steps[i]}) is earlier than step {i}", case_id, "case.json"))
    received, finished = parse_time(case["receive_time"]), parse_time(case["transact_time"])
    if finished < received:
        problems.append(Problem("PROCESS-INCOMPLETE", "办结时间 is earlier than 受理时间", case_id, "case.json"))
    for i, (step, t) in enumerate(zip(steps, times), 1):  # the record agrees with the case's own 受理/办结 times
        if not received <= t <= finished:
            problems.append(Problem("PROCESS-INCOMPLETE", f"process step {i} ({step}) at {t.isoformat()} lies outside 受理时间 "
                                    f"{received.isoformat()} … 办结时间 {finished.isoformat()}", case_id, "case.json"))
    if "办结" in steps and steps[-1] != "办结":
        problems.append(Problem("PROCESS-INCOMPLETE", f"办结 is not the last step of the process record ({steps[-1]} follows it)",
                                case_id, "case.json"))
    seqs = sorted(int(m["seq"]) for m in materials)
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(Problem("MATERIAL-SEQUENCE", f"件内顺序号 must run 1..{len(seqs)} without gaps or repeats, got {seqs}", case_id, "case.json"))
    for category in ("申报文件", "结果文件"):
        if not any(m["category"] == category for m in materials):
            problems.append(Problem("MATERIAL-MISSING", f"a finished case needs at least one {category}", case_id, "case.json"))
    return problems


def organise(record: CaseRecord, serial: int) -> Plan:
    """Order and name the case; raises with every problem found."""
    problems = case_rules(record.data)
    if problems:
        raise EarchiveError(problems)
    year = case_year(record.case)
    ordered = sorted(record.materials, key=lambda m: (CATEGORIES.index(m.category), m.seq))
    files = [PlannedFile(m, member_name(m)) for m in ordered]
    return Plan(record=record, record_code=record_code(record.case, year, serial), year=year, files=files)


class LocalSerials:
    """Archive serial numbers for offline packing, one sequence per code prefix.

    The same 办件 always gets the same serial (re-packing is idempotent); the
    pipeline uses a DynamoDB counter instead. State lives in
    ``$EARCHIVE_HOME/serials.json`` under an exclusive file lock.
    """

    def __init__(self, home: Path | None = None):
        self.path = (home or earchive_home()) / "serials.json"

    def allocate(self, prefix: str, project_id: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock, exclusive(lock):
            state = {"next": {}, "assigned": {}}
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                state = json.loads(self.path.read_text("utf-8"))
            key = f"{prefix}|{project_id}"
            if key not in state["assigned"]:
                serial = state["next"].get(prefix, 1)
                state["next"][prefix] = serial + 1
                state["assigned"][key] = serial
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), "utf-8")
                os.replace(tmp, self.path)
            return state["assigned"][key]


def case_year(case: dict) -> int:
    """The archiving year: the year the case was finished (办结), Beijing time."""
    return parse_time(case["transact_time"]).astimezone(CHINA_TZ).year


def serial_prefix(case: dict) -> str:
    """The part of the 电子文件号 before the serial; serials count within it."""
    return record_code(case, case_year(case), 0).rsplit("-", 1)[0]


def content_digest(data: dict) -> str:
    """SHA-256 of case.json's content (sorted keys, no whitespace): what a correction must change.

    Every material's declared size and digest are in it, so a corrected file changes it too.
    """
    import hashlib
    import json

    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()
