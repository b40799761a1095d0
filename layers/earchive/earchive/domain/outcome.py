"""What the provincial platform must act on, as events it can subscribe to (issue 11): archived, rejected, returned, accepted. Pure.

Each outcome is one EventBridge event, ``source: earchive``, ``detail-type`` one of :data:`DETAIL_TYPES`,
and a ``detail`` that ``schemas/outcome-event.schema.json`` describes (``schema_version`` "1.0"; a
field is only ever added in a minor version, never renamed or removed without a major one). The
platform matches on ``detail.project_id`` (its own 办件编号) and reads ``reasons`` to act: fix and
upload again, or nothing. The catalogue, the notice beside the upload and the event log say the same,
so an event that could not be published loses nothing (it is logged, and the notice stays).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .. import rules_zh

SOURCE = "earchive"
SCHEMA_VERSION = "1.0"
DETAIL_TYPES = {
    "ARCHIVED": "earchive.case.archived",   # 已归档: sealed, checked, locked
    "REJECTED": "earchive.case.rejected",   # 拒收: the upload breaks a rule; fix it and upload again
    "FAILED": "earchive.case.failed",       # 系统失败: not the platform's fault; it is retried (or operators act)
    "RETURNED": "earchive.case.returned",   # 退回: the institution returned it with its reason; fix it and upload again
    "ACCEPTED": "earchive.case.accepted",   # 接收: the institution accepted it (both parties signed the list)
}


def outcome(status: str, item: dict[str, Any], *, problems: list[dict[str, Any]] | None = None, batch: dict[str, Any] | None = None,
            reason: str | None = None, at: str | None = None) -> dict[str, Any]:
    """The ``detail`` of one outcome event for a catalogue item (or a rejected upload's item)."""
    reasons = [{"rule": p.get("rule"), "file": p.get("file"), "message": str(p.get("message", ""))[:1000],
                "reason_zh": rules_zh.describe(p), "kind": rules_zh.rule_kind(p.get("rule"))} for p in (problems or [])[:50]]
    if reason:
        reasons.insert(0, {"rule": "INSTITUTION-RETURN", "file": None, "message": reason[:1300], "reason_zh": reason[:1300], "kind": "fix"})
    up = item.get("upload") or {}
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "status": status,
        "project_id": item.get("project_id") or None, "record_code": item.get("record_code") or None,
        "package_version": int(item.get("package_version", 1)),
        "region_code": item.get("region_code") or None, "fonds_identifier": item.get("fonds_identifier") or None,
        "upload": {"bucket": up.get("bucket"), "key": up.get("key"), "version": up.get("version")} if up else None,
        "at": at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "reasons": reasons,
    }
    if batch:
        out["batch"] = {"batch_id": batch.get("batch_id"), "institution": batch.get("institution"), "institution_name": batch.get("institution_name")}
    if status == "ARCHIVED":
        out["package"] = {"sha256": item.get("package_sha256"), "sm3": item.get("package_sm3"), "retain_until": item.get("retain_until")}
    return out


def entry(detail: dict[str, Any], bus: str) -> dict[str, Any]:
    """The PutEvents entry of an outcome."""
    return {"Source": SOURCE, "DetailType": DETAIL_TYPES[detail["status"]], "Detail": json.dumps(detail, ensure_ascii=False, default=str),
            "EventBusName": bus}


__all__ = ["DETAIL_TYPES", "SCHEMA_VERSION", "SOURCE", "entry", "outcome"]
