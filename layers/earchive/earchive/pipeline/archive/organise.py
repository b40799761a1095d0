"""Organise (整理): allocate the archive serial, name the package (电子文件号), open its catalogue item.

Input :class:`~earchive.pipeline.state.Collected`; output :class:`~earchive.pipeline.state.Organised`.
A corrected case for a package the institution returned becomes the next
version; the returned version is kept as ``<code>#v<n>`` with its file map.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ...domain.organise import organise, serial_prefix
from ...errors import EarchiveError, Problem
from ..runtime import Runtime
from ..state import Collected, Organised
from .common import ACTOR, open_bundle, rejected


def run(state: Collected, rt: Runtime) -> Organised:
    """Allocate the archive serial, name the package, open its catalogue item."""
    aws = rt.aws
    record, bundle = open_bundle(rt, state["upload"])
    bundle.close()
    serial = record.case.get("archive_serial") or aws.catalogue.allocate_serial(serial_prefix(record.case), record.project_id)
    try:
        plan = organise(record, serial)
    except EarchiveError as exc:
        raise rejected("organise", exc.with_case(record.project_id).problems) from None
    code = plan.record_code
    existing = aws.catalogue.get(code)
    if existing and existing.get("status") in ("ARCHIVED", "ACCEPTED") and existing.get("upload") != state["upload"]:
        raise rejected("organise", [Problem("CASE-ALREADY-ARCHIVED", f"{code} is {existing['status']} already "
                                    f"(version {existing.get('package_version', 1)}); a correction is accepted only after the "
                                    "receiving institution returns the package", record.project_id)])
    version = int((existing or {}).get("package_version", 1))
    history: list[dict[str, Any]] = list((existing or {}).get("versions", []))
    if existing and existing.get("status") == "RETURNED":  # the corrected case: a new version, the old one kept
        aws.catalogue.keep_version(existing, version)
        aws.filemap.copy_to(code, f"{code}#v{version}")
        history.append({"version": version, "archive": existing.get("archive"), "returned_batch": existing.get("returned_batch"),
                        "return_reason": existing.get("return_reason")})
        version += 1
    if not existing or existing.get("status") not in ("ARCHIVED", "ACCEPTED"):
        aws.catalogue.open_package({
            "package_id": code, "record_code": code, "project_id": record.project_id, "status": "RECEIVED",
            "upload": state["upload"], "stream": state["stream"], "execution": state.get("execution", ""),
            "task_code": record.case["task_code"], "task_name": record.case["task_name"], "task_type": record.case["task_type"],
            "region_code": record.case["region_code"], "fonds_identifier": record.case["fonds_identifier"], "year": plan.year,
            "retention_period": record.case["retention_period"], "total_number": len(plan.files),
            "total_bytes": sum(f.material.declared_size for f in plan.files), "package_version": version, "versions": history,
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
    aws.events.append(state["stream"], actor=ACTOR, action="organise", result="ok", detail={"record_code": code, "serial": serial})
    return {**state, "record_code": code, "serial": serial, "year": plan.year}  # type: ignore[typeddict-item]
