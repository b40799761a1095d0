"""Collect (收集): claim the upload once per version, read and validate the bundle, check its scope.

Input :class:`~earchive.pipeline.state.CollectInput`; output :class:`~earchive.pipeline.state.Collected`.
Errors: ``DuplicateDelivery`` (another execution has, or had, this upload version),
``BundleRejected`` (the bundle breaks a rule: the Reject state reports it).
"""

from __future__ import annotations

import datetime as dt
import json

from ...domain.collect import scope_problems
from ...errors import ConflictError, DuplicateDelivery
from ..runtime import Runtime
from ..state import Collected, CollectInput, Upload, stream_id, upload_from_event
from .common import ACTOR, claim_key, open_bundle, rejected, resolve_upload


def run(state: CollectInput, rt: Runtime) -> Collected:
    """Claim the upload (once per version), read and validate the bundle."""
    event, execution = state.get("event", state), state.get("execution", "")
    up = upload_from_event(event)
    if not up.get("bucket") or not up.get("key"):
        raise ValueError(f"event names no S3 object: {json.dumps(event)[:200]}")
    up = resolve_upload(rt, up)
    stream = stream_id(up)
    claim(rt, up, stream, execution)
    rt.aws.events.append(stream, actor=ACTOR, action="collect", result="started", detail={"upload": up, "execution": execution})
    record, bundle = open_bundle(rt, up, verify_layout=True)
    bundle.close()
    case = record.case
    out_of_scope = scope_problems(case, rt.settings.region_code, rt.settings.fonds)
    if out_of_scope:
        raise rejected("collect", out_of_scope)
    summary = {
        "project_id": record.project_id, "task_code": case["task_code"], "task_name": case["task_name"],
        "task_type": case["task_type"], "region_code": case["region_code"], "fonds_identifier": case["fonds_identifier"],
        "retention_period": case["retention_period"], "files": len(record.materials),
        "bytes": sum(m.declared_size for m in record.materials), "ignored": record.ignored,
    }
    rt.aws.events.append(stream, actor=ACTOR, action="collect", result="ok", detail=summary)
    return {"upload": up, "stream": stream, "execution": execution, "case": summary}  # type: ignore[typeddict-item]


def claim(rt: Runtime, up: Upload, stream: str, execution: str) -> None:
    """Make this execution the one that handles the upload version, or raise DuplicateDelivery.

    A claim held by a crashed execution (FAILED, ABORTED, TIMED_OUT, or one Step
    Functions has forgotten after 90 days) is taken over so that a re-run finishes
    the job; a finished one is never taken again.
    """
    key = claim_key(up)
    item = {"package_id": key, "execution": execution, "stream": stream, "status": "CLAIMED",
            "claimed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    try:
        rt.aws.catalogue.put_new(item)
        return
    except ConflictError:
        pass
    current = rt.aws.catalogue.get(key) or {}
    if current.get("status") == "DONE":
        raise DuplicateDelivery(f"s3://{up['bucket']}/{up['key']} version {up.get('version')} was {current.get('outcome', 'handled')} already")
    if current.get("execution") == execution:
        return  # our own retry
    previous = current.get("execution", "")
    status = "FAILED" if current.get("status") == "FAILED" else rt.aws.executions.status(previous) if previous else "GONE"
    if status in ("FAILED", "ABORTED", "TIMED_OUT", "GONE"):  # a crashed (or long forgotten) run: take over and finish the job
        rt.aws.catalogue.take_over_claim(key, previous, execution)
        return
    raise DuplicateDelivery(f"s3://{up['bucket']}/{up['key']} version {up.get('version')} is handled by {previous} ({status})")
