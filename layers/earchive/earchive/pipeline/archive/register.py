"""Register (归档登记): check counts and retention against the catalogue, set the retention, record the file map.

Input :class:`~earchive.pipeline.state.Checked`; output :class:`~earchive.pipeline.state.Registered`.
"""

from __future__ import annotations

import datetime as dt

from ...domain.retention import retention_for
from ...errors import Problem
from ..runtime import Runtime
from ..state import Checked, Registered
from .common import ACTOR, rejected, staged_digests
from .configured import verify_retention


def run(state: Checked, rt: Runtime) -> Registered:
    """Check retention and counts against the catalogue, record the file mapping."""
    aws = rt.aws
    code = state["record_code"]
    item = aws.catalogue.get(code) or {}
    files = staged_digests(rt, state)["files"]
    problems = []
    if int(item.get("total_number", -1)) != len(files):
        problems.append(f"catalogue says {item.get('total_number')} files, the package holds {len(files)}")
    if int(item.get("total_bytes", -1)) != sum(f["size"] for f in files):
        problems.append(f"catalogue says {item.get('total_bytes')} bytes, the package holds {sum(f['size'] for f in files)}")
    if item.get("retention_period") not in ("Y", "D30", "D10"):
        problems.append(f"retention period {item.get('retention_period')!r} is not Y, D30 or D10")
    found = [Problem("REGISTER-MISMATCH", p, item.get("project_id"), code) for p in problems] + verify_retention(rt, item)
    if found:
        raise rejected("register", found)
    retention = retention_for(item["retention_period"], int(item["year"]), dt.datetime.now(dt.UTC), rt.settings.min_retention_days,
                              rt.settings.lock_mode)
    aws.filemap.put(code, files, state["upload"])
    aws.catalogue.move(code, "REGISTERED", allowed_from=("CHECKED",), owner=state.get("execution", ""), retain_until=retention.retain_until.isoformat(),
                       legal_hold=retention.legal_hold, retention_mode=retention.mode, retention_note=retention.note)
    aws.events.append(state["stream"], actor=ACTOR, action="register", result="ok",
                      detail={"retain_until": retention.retain_until.isoformat(), "legal_hold": retention.legal_hold, "files": len(files),
                              **({"retention_note": retention.note} if retention.note else {}),
                              **({"config": item["config"]} if item.get("config") else {})})
    return {**state, "retention": {"until": retention.retain_until.isoformat(), "legal_hold": retention.legal_hold}}  # type: ignore[typeddict-item]
