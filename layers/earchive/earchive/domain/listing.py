"""How the console's lists are keyed (issue 11): a hall's cases and batches by index query, never by scan. Pure.

A *hall* is one 综合受理窗口's holding: 行政区划 + 全宗号 (``430102#ABC``), the scope a window clerk's token
carries. Catalogue items of packages and rejected uploads carry ``hall`` and ``hall_sk`` =
``<status>#<time of the last change>``; the sparse index ``by_hall`` on them answers "this hall's REJECTED
cases, newest first, changed between these dates" with one query. Upload claims and serial counters
carry no ``hall`` and so are not in the index. A cursor is the index's own LastEvaluatedKey, encoded;
a forged one can only point inside the hall the query names (the key condition fixes it).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

HALL_INDEX = "by_hall"
READY_INDEX = "by_ready"  # packages ARCHIVED and in no batch yet, by archive time: what 申请移交 gathers (one query, not a scan)
READY = "ARCHIVED"
READY_KEYS = ("ready", "ready_sk")
HALL = re.compile(r"^\d{6}#[0-9A-Za-z]{1,16}$")
STATUSES = ("RECEIVED", "PACKED", "SEALED", "CHECKED", "REGISTERED", "ARCHIVED", "REJECTED", "FAILED", "RETURNED", "ACCEPTED")
VERSION = re.compile(r"#v\d+$")  # a returned version kept beside its successor: history, not a row of the list
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
UNKNOWN_HALL = "000000#unknown"
BEIJING = dt.timezone(dt.timedelta(hours=8))  # an upload whose case.json could not be read, in a stack that names no hall


def hall_key(region_code: str, fonds: str) -> str:
    return f"{region_code}#{fonds}"


def hall_of_item(item: dict[str, Any], default: str | None = None) -> str | None:
    """The hall an item belongs to: its case's 行政区划 and 全宗号, else ``default`` (the stack's own)."""
    region, fonds = item.get("region_code"), item.get("fonds_identifier")
    if region and fonds:
        return hall_key(str(region), str(fonds))
    return default


def sort_key(status: str, at: str) -> str:
    return f"{status}#{at}"


def indexed(item: dict[str, Any], default_hall: str | None = None) -> dict[str, Any]:
    """``item`` with its ``hall`` and ``hall_sk``; claims and counters (``claim#``, ``serial…#``) stay out of the index."""
    pid = str(item.get("package_id", ""))
    if pid.startswith(("claim#", "serial#", "serialno#")) or VERSION.search(pid) or not item.get("status"):
        return item
    hall = hall_of_item(item, default_hall)
    if not hall:
        return item
    at = str(item.get("updated_at") or item.get("rejected_at") or item.get("received_at") or "")
    base = {k: v for k, v in item.items() if k not in READY_KEYS}
    return {**base, "hall": hall, "hall_sk": sort_key(str(item["status"]), at), "changed_at": at, **ready_keys(item, at)}


def ready_keys(item: dict[str, Any], at: str = "") -> dict[str, str]:
    """The ``by_ready`` keys of an item that may join a batch (ARCHIVED, in none yet); none for any other."""
    if item.get("status") != READY or item.get("transfer_batch"):
        return {}
    return {"ready": READY, "ready_sk": f"{item.get('archived_at') or at or item.get('updated_at') or ''}#{item['package_id']}"}


@dataclass(frozen=True)
class CaseQuery:
    """One page of a hall's cases: status, last-change dates (北京 calendar days as given), 事项, 事项类型."""

    hall: str
    status: str | None = None
    since: str | None = None
    until: str | None = None
    task_code: str | None = None
    task_type: str | None = None
    limit: int = 50
    cursor: dict[str, Any] | None = None
    untransferred: bool = False  # 申请移交's pick list: only packages in no batch yet
    scope: Any = None  # 申请移交 for one institution: only packages within its Scope (受理范围)

    @classmethod
    def parse(cls, hall: str, q: dict[str, str]) -> CaseQuery:
        """From query parameters; anything malformed is a :class:`UsageError` naming the parameter (400)."""
        if not HALL.match(hall):
            raise UsageError(f"hall {hall!r}: 应为 行政区划#全宗号 (e.g. 430102#ABC)")
        status = q.get("status") or None
        if status is not None and status not in STATUSES:
            raise UsageError(f"status {status!r}: 应为 {', '.join(STATUSES)} 之一")
        for name in ("since", "until"):
            if q.get(name) and not DATE.match(q[name]):
                raise UsageError(f"{name} {q[name]!r}: 应为 YYYY-MM-DD")
        raw = q.get("limit") or "50"
        if not raw.isdigit():
            raise UsageError(f"limit {raw!r}: 应为 1–200")
        task_type = q.get("task_type") or None
        if task_type is not None and task_type not in ("行政权力事项", "公共服务事项"):
            raise UsageError(f"task_type {task_type!r}: 应为 行政权力事项 或 公共服务事项")
        return cls(hall, status, q.get("since") or None, q.get("until") or None, (q.get("task_code") or "").strip() or None,
                   task_type, max(1, min(200, int(raw))), decode_cursor(q.get("cursor")))

    def times(self) -> tuple[str, str]:
        """The UTC bounds (ISO, as stored) of the Beijing calendar days asked for: 北京 00:00 of ``since`` … 24:00 of ``until``."""
        low = (dt.datetime.fromisoformat(self.since).replace(tzinfo=BEIJING).astimezone(dt.UTC).isoformat(timespec="seconds")[:19]
               if self.since else "")
        if self.until:
            end = dt.datetime.fromisoformat(self.until).replace(tzinfo=BEIJING) + dt.timedelta(days=1) - dt.timedelta(seconds=1)
            high = end.astimezone(dt.UTC).isoformat(timespec="seconds")[:19] + "~"  # "~" sorts after any zone suffix of that second
        else:
            high = "9999-12-31~"
        return low, high

    def key_range(self) -> tuple[str, str] | None:
        """The ``hall_sk`` range of a status (and dates), or None when no status narrows it."""
        if self.status is None:
            return None
        low, high = self.times()
        return sort_key(self.status, low), sort_key(self.status, high)


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True, default=str).encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise UsageError("cursor: 无法识别（请从第一页重新开始）") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()) or len(value) > 4:
        raise UsageError("cursor: 无法识别（请从第一页重新开始）")
    return value


__all__ = ["HALL_INDEX", "READY_INDEX", "STATUSES", "UNKNOWN_HALL", "CaseQuery", "decode_cursor", "encode_cursor", "hall_key",
           "hall_of_item", "indexed", "ready_keys", "sort_key"]
