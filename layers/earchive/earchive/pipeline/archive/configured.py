"""归档配置 in the archive pipeline (ADR 0017): Organise checks a case against it, Pack and Register follow that verdict.

With no configuration (no table, or nothing ever configured) every function here is a no-op and
the pipeline works as before: the platform's 保管期限 is taken as given.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...domain.archiving_config import evaluate, with_retention
from ...domain.collect import CaseRecord
from ...errors import Problem
from ..runtime import Runtime
from ..state import ConfigChecked
from .common import rejected


def check_case(rt: Runtime, record: CaseRecord) -> ConfigChecked | None:
    """The verdict of the 归档配置 on one case (None: the deployment has none); a broken rule rejects it at Organise."""
    registry = rt.aws.archiving_config
    deployment = registry.deployment() if registry is not None else None
    if deployment is None:
        return None
    verdict = evaluate(record.data, registry.current(record.case["task_code"]), deployment)  # type: ignore[union-attr]
    if verdict.problems:
        raise rejected("organise", verdict.problems)
    return verdict.record()  # type: ignore[return-value]


def applied(record: CaseRecord, checked: ConfigChecked | None) -> CaseRecord:
    """The case as it is archived: with the schedule's 保管期限 when the configuration applies it (named and described with it)."""
    period = (checked or {}).get("retention_period")
    return dataclasses.replace(record, data=with_retention(record.data, period)) if period else record


def verify_retention(rt: Runtime, item: dict[str, Any]) -> list[Problem]:
    """Register's 核实保管期限: the catalogue's period is the schedule's of the version the case was checked against."""
    checked = item.get("config") or {}
    if not checked.get("task_version") or rt.aws.archiving_config is None:
        return []
    pinned = rt.aws.archiving_config.version(item["task_code"], int(checked["task_version"]))
    if pinned is None:
        return [Problem("CONFIG-RETENTION", f"归档配置 {item['task_code']} 第 {checked['task_version']} 版不存在，无法核实保管期限",
                        item.get("project_id"), item.get("package_id"))]
    if pinned.get("retention_period") != item.get("retention_period"):
        return [Problem("CONFIG-RETENTION", f"目录中的保管期限 {item.get('retention_period')} 与归档配置 {item['task_code']} "
                        f"第 {pinned['version']} 版的 {pinned.get('retention_period')} 不符", item.get("project_id"), item.get("package_id"))]
    return []

