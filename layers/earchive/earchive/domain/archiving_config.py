"""归档配置 (archiving configuration, DB43/T §6.2, §6.3, §6.7): per 事项编码, what a case must bring and how long it is kept.

Pure: the shape of one configuration version, the rules a case is checked against at Organise
and Register, and the reading of the province's 事项目录 spreadsheet. The versioned registry itself
(DynamoDB, every change in the event log) is :mod:`earchive.aws.archiving_config`.

A 事项's configuration: 事项类型 (行政权力事项 / 公共服务事项), the materials required at archiving
(by 申报/过程/结果 and title or 文件类型代码), the 保管期限 of the schedule, and the receiving institution.
The deployment's own item (``#deployment``) holds the two modes: a retention that differs from the
schedule is ``refuse``d or the schedule's period is ``apply``'d (and noted); an unknown 事项 is
``refuse``d or ``accept``ed with a note. With no configuration at all, nothing here runs (ADR 0017).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, UsageError

DEPLOYMENT = "#deployment"  # the deployment's modes: not a 事项编码 (those are letters and digits only)
TASK_CODE = re.compile(r"^[0-9A-Za-z]{1,40}$")
TASK_TYPES = ("行政权力事项", "公共服务事项")
RETENTIONS = ("Y", "D30", "D10")
RETENTION_MODES = ("refuse", "apply")
UNKNOWN_MODES = ("refuse", "accept")
CATEGORIES = ("申报文件", "过程文件", "结果文件")
FILE_CODE = re.compile(r"^[ABC][0-9]{0,3}$")
DEFAULT_MODES = {"retention_mismatch": "refuse", "unknown_task": "accept"}
MODE_ZH = {"refuse": "拒收", "apply": "按目录期限归档并注明", "accept": "接收并注明"}

_TYPE_ALIASES = {"行政权力": "行政权力事项", "行政权力事项": "行政权力事项", "公共服务": "公共服务事项", "公共服务事项": "公共服务事项"}
_RETENTION_ALIASES = {"Y": "Y", "永久": "Y", "D30": "D30", "30年": "D30", "定期30年": "D30", "D10": "D10", "10年": "D10", "定期10年": "D10"}
_CATEGORY_ALIASES = {"申报": "申报文件", "申报文件": "申报文件", "A": "申报文件", "过程": "过程文件", "过程文件": "过程文件", "B": "过程文件",
                     "结果": "结果文件", "结果文件": "结果文件", "C": "结果文件"}
_MODE_ALIASES = {"": "", "默认": "", "refuse": "refuse", "拒收": "refuse", "拒绝": "refuse", "apply": "apply", "采用目录": "apply",
                 "按目录": "apply", "按目录期限": "apply"}
HEADERS = {"事项编码": "task_code", "事项名称": "task_name", "事项类型": "task_type", "保管期限": "retention_period",
           "接收单位": "institution", "接收单位名称": "institution_name", "必备材料": "required", "保管期限不符时": "retention_mismatch"}


def _clean(text: Any) -> str:
    """NFKC, trimmed, inner whitespace removed: 「申请表 」 and 「申请表」 name the same material."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text if text is not None else ""))).strip()


def task_type_of(text: str) -> str:
    value = _TYPE_ALIASES.get(_clean(text))
    if not value:
        raise UsageError(f"事项类型「{text}」应为 行政权力事项 或 公共服务事项")
    return value


def retention_of(text: str) -> str:
    cleaned = _clean(text)
    value = _RETENTION_ALIASES.get(cleaned.upper()) or _RETENTION_ALIASES.get(cleaned)
    if not value:
        raise UsageError(f"保管期限「{text}」应为 Y（永久）、D30（30年）或 D10（10年）")
    return value


def mode_of(text: str, allowed: tuple[str, ...]) -> str:
    cleaned = _clean(text)
    value = _MODE_ALIASES.get(cleaned.lower(), cleaned)
    if value not in ("", *allowed):
        raise UsageError(f"方式「{text}」应为 {' 或 '.join(f'{m}（{MODE_ZH[m]}）' for m in allowed)}")
    return value


def parse_required(text: str) -> list[dict[str, str]]:
    """``申报:申请表；申报:A2；结果:C1`` → required materials; after the colon a 文件类型代码 (A1, C2…) or a title.

    Items are separated by ``；`` ``;`` ``、`` or new lines; ``类别:`` may be 申报/过程/结果 or the folder name.
    """
    out = []
    for part in re.split(r"[；;、\n\r]+", unicodedata.normalize("NFKC", text or "")):
        part = part.strip()
        if not part:
            continue
        category, sep, what = part.partition(":")
        if not sep or _clean(category) not in _CATEGORY_ALIASES or not _clean(what):
            raise UsageError(f"必备材料「{part}」应写作 类别:题名 或 类别:文件类型代码（类别为 申报/过程/结果），如 申报:申请表、结果:C1")
        what = _clean(what)
        out.append({"category": _CATEGORY_ALIASES[_clean(category)], **({"code": what} if FILE_CODE.match(what) else {"title": what})})
    return out


def required_text(required: list[dict[str, str]]) -> str:
    """The spreadsheet form of a required-material list (what :func:`parse_required` reads)."""
    return "；".join(f"{r['category'][:2]}:{r.get('code') or r.get('title')}" for r in required)


def task_config(values: dict[str, Any]) -> dict[str, Any]:
    """A 事项's configuration from loose values (CLI, console form, a spreadsheet row), checked; :class:`UsageError` names the field."""
    code = _clean(values.get("task_code"))
    if not TASK_CODE.match(code):
        raise UsageError(f"事项编码「{values.get('task_code') or ''}」应为 1–40 位字母或数字")
    name = str(values.get("task_name") or "").strip()
    if not name:
        raise UsageError("事项名称不能为空")
    required = values.get("required") or []
    if isinstance(required, str):
        required = parse_required(required)
    for r in required:
        if r.get("category") not in CATEGORIES or not (r.get("title") or r.get("code")):
            raise UsageError(f"必备材料 {r!r} 应有类别（申报文件/过程文件/结果文件）和题名或文件类型代码")
    institution = _clean(values.get("institution"))
    if institution and not re.fullmatch(r"[0-9A-Za-z]{1,32}", institution):
        raise UsageError(f"接收单位「{values.get('institution')}」应为接收单位代码（字母或数字，如 430102001）")
    return {
        "task_code": code, "task_name": name, "task_type": task_type_of(str(values.get("task_type") or "")),
        "retention_period": retention_of(str(values.get("retention_period") or "")),
        "required": [{k: r[k] for k in ("category", "title", "code") if r.get(k)} for r in required],
        "institution": institution, "institution_name": str(values.get("institution_name") or "").strip(),
        "retention_mismatch": mode_of(str(values.get("retention_mismatch") or ""), RETENTION_MODES),
        "status": "RETIRED" if values.get("status") == "RETIRED" else "ACTIVE",
    }


def deployment_modes(values: dict[str, Any]) -> dict[str, str]:
    """The deployment's two modes, checked (defaults for those not given)."""
    return {"retention_mismatch": mode_of(str(values.get("retention_mismatch") or DEFAULT_MODES["retention_mismatch"]), RETENTION_MODES)
            or DEFAULT_MODES["retention_mismatch"],
            "unknown_task": mode_of(str(values.get("unknown_task") or DEFAULT_MODES["unknown_task"]), UNKNOWN_MODES) or DEFAULT_MODES["unknown_task"]}


CONFIG_FIELDS = ("task_name", "task_type", "retention_period", "required", "institution", "institution_name", "retention_mismatch", "status")


def same_config(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Whether two versions say the same (an import leaves a 事项 it does not change at its version)."""
    return a is not None and all((a.get(k) or "") == (b.get(k) or "") for k in CONFIG_FIELDS if k != "required") \
        and list(a.get("required") or []) == list(b.get("required") or [])


# -- the rules a case meets (Organise; Register verifies the retention against the same version)

@dataclass
class Verdict:
    """What the configuration says of one case: problems (a rejection), notes (archived, noted), the retention to apply."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    retention_period: str | None = None  # the schedule's period, when it replaces the platform's
    task_version: int | None = None
    deployment_version: int = 0

    def record(self) -> dict[str, Any]:
        """What the catalogue item and the state keep: which versions the case was checked against, and the notes."""
        out: dict[str, Any] = {"deployment_version": self.deployment_version, "notes": self.notes}
        if self.task_version is not None:
            out["task_version"] = self.task_version
        if self.retention_period:
            out["retention_period"] = self.retention_period
        return out


def matches(requirement: dict[str, str], material: dict[str, Any]) -> bool:
    """A material meets a requirement: same category, and the same 文件类型代码 or (cleaned) title."""
    if material.get("category") != requirement.get("category"):
        return False
    if requirement.get("code"):
        return _clean(material.get("file_code")).upper() == requirement["code"].upper()
    return _clean(material.get("title")) == _clean(requirement.get("title"))


def evaluate(data: dict[str, Any], task: dict[str, Any] | None, deployment: dict[str, Any]) -> Verdict:
    """Check one case.json against its 事项's configuration (``task``: the current version, None if unknown or retired).

    Rule codes: CONFIG-TASK-UNKNOWN, CONFIG-TASK-TYPE, CONFIG-MATERIAL-REQUIRED, CONFIG-RETENTION (rejections);
    CONFIG-TASK-UNKNOWN-ACCEPTED, CONFIG-RETENTION-APPLIED (notes on an archived case).
    """
    case, materials = data["case"], data.get("materials") or []
    pid, code = case.get("project_id"), case.get("task_code")
    modes = deployment_modes(deployment)
    verdict = Verdict(deployment_version=int(deployment.get("version", 0)))
    if task is None or task.get("status") == "RETIRED":
        why = "已停用" if task else "不在归档配置中"
        if modes["unknown_task"] == "refuse":
            verdict.problems.append(Problem("CONFIG-TASK-UNKNOWN", f"事项 {code}（{case.get('task_name')}）{why}；"
                                            "本系统只接收已配置的事项", pid, "case.json"))
        else:
            verdict.notes.append({"rule": "CONFIG-TASK-UNKNOWN-ACCEPTED", "message": f"事项 {code}（{case.get('task_name')}）{why}，"
                                  f"按平台提交的保管期限 {case.get('retention_period')} 接收"})
        return verdict
    verdict.task_version = int(task["version"])
    if case.get("task_type") != task.get("task_type"):
        verdict.problems.append(Problem("CONFIG-TASK-TYPE", f"事项类型为「{case.get('task_type')}」，归档配置（第 {task['version']} 版）"
                                        f"为「{task.get('task_type')}」", pid, "case.json"))
    for req in task.get("required") or []:
        if not any(matches(req, m) for m in materials):
            what = f"文件类型代码 {req['code']}" if req.get("code") else f"「{req.get('title')}」"
            verdict.problems.append(Problem("CONFIG-MATERIAL-REQUIRED", f"缺少必备材料：{req['category']} {what}"
                                            f"（归档配置第 {task['version']} 版）", pid, "case.json"))
    schedule, given = task.get("retention_period"), case.get("retention_period")
    if schedule and given != schedule:
        mode = task.get("retention_mismatch") or modes["retention_mismatch"]
        if mode == "refuse":
            verdict.problems.append(Problem("CONFIG-RETENTION", f"保管期限为 {given}，归档配置（第 {task['version']} 版）"
                                            f"规定为 {schedule}", pid, "case.json"))
        else:
            verdict.retention_period = schedule
            verdict.notes.append({"rule": "CONFIG-RETENTION-APPLIED", "message": f"平台提交的保管期限 {given} 与归档配置（第 {task['version']} 版）"
                                  f"不符，已按配置的 {schedule} 归档"})
    return verdict


def with_retention(data: dict[str, Any], retention_period: str | None) -> dict[str, Any]:
    """case.json with the schedule's 保管期限 in place of the platform's (the package is named and described with it)."""
    if not retention_period or data["case"].get("retention_period") == retention_period:
        return data
    return {**data, "case": {**data["case"], "retention_period": retention_period}}


# -- the province's 事项目录 as a spreadsheet (XLSX or CSV, Chinese headers)

def read_rows(name: str, content: bytes) -> list[dict[str, str]]:
    """The rows of a CSV (UTF-8, with or without BOM; GB18030 also read) or XLSX sheet, keyed by the Chinese header."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file that is not a workbook
            raise UsageError(f"{name} 不是可读取的 XLSX 工作簿：{exc}") from None
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise UsageError(f"{name} 不是 UTF-8 或 GB18030 编码的 CSV")
        rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise UsageError(f"{name} 是空表")
    header = [_clean(h) for h in rows[0]]
    if "事项编码" not in header:
        raise UsageError(f"{name} 第 1 行应为表头，且含「事项编码」列（可用列：{'、'.join(HEADERS)}）")
    return [dict(zip(header, row)) for row in rows[1:]]


def parse_catalogue(rows: list[dict[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(configurations, errors) of a 事项目录's rows; each error names the row (as the spreadsheet numbers it) and the column."""
    configs: list[dict[str, Any]] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, start=2):
        if not any(_clean(v) for v in row.values()):
            continue  # an empty line
        values = {HEADERS[h]: v for h, v in row.items() if h in HEADERS}
        problems = []
        for column, key, check in (("事项编码", "task_code", lambda v: TASK_CODE.match(_clean(v)) or _raise(f"「{v}」应为 1–40 位字母或数字")),
                                   ("事项名称", "task_name", lambda v: _clean(v) or _raise("不能为空")),
                                   ("事项类型", "task_type", task_type_of), ("保管期限", "retention_period", retention_of),
                                   ("必备材料", "required", parse_required),
                                   ("保管期限不符时", "retention_mismatch", lambda v: mode_of(v, RETENTION_MODES))):
            try:
                check(str(values.get(key) or ""))
            except UsageError as exc:
                problems.append(f"第 {i} 行「{column}」列：{exc}")
        try:
            if not problems:
                config = task_config(values)
                if config["task_code"] in seen:
                    problems.append(f"第 {i} 行「事项编码」列：{config['task_code']} 已在第 {seen[config['task_code']]} 行出现")
                else:
                    seen[config["task_code"]] = i
                    configs.append(config)
        except UsageError as exc:
            problems.append(f"第 {i} 行「接收单位」列：{exc}")
        errors += problems
    if not configs and not errors:
        errors.append("表中没有事项（第 2 行起每行一个事项）")
    return configs, errors


def _raise(message: str) -> Any:
    raise UsageError(message)
