"""Organise (整理): allocate the archive serial, name the package (电子文件号), take ownership of its catalogue item.

Input :class:`~earchive.pipeline.state.Collected`; output :class:`~earchive.pipeline.state.Organised`.
Errors: ``BundleRejected``; ``DuplicateDelivery`` when this very upload is archived already (a re-run
after a crash between ARCHIVED and closing the claim: the claim is closed, the run ends as handled).

One case, one owner at a time (review F2, F3): the catalogue item of a 电子文件号 belongs to one
case (``project_id``) and, while it is being archived, to one execution (``execution``); every
later move is conditional on that owner. A serial supplied by the platform is reserved like the
counter's, so no two cases share a number. A corrected case for a package the institution
returned becomes the next version; the returned version is kept as ``<code>#v<n>`` with its file map.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ...domain.organise import content_digest, organise, serial_prefix
from ...errors import ConflictError, DuplicateDelivery, EarchiveError, Problem
from ..runtime import Runtime
from ..state import Collected, Organised
from .common import ACTOR, finish_upload, open_bundle, rejected, same_upload
from .configured import applied, check_case

IN_FLIGHT = ("RECEIVED", "PACKED", "SEALED", "CHECKED", "REGISTERED")
DEAD = ("FAILED", "ABORTED", "TIMED_OUT", "GONE")


def run(state: Collected, rt: Runtime) -> Organised:
    """Allocate the archive serial, name the package, take ownership of its catalogue item."""
    aws = rt.aws
    record, bundle = open_bundle(rt, state["upload"])
    bundle.close()
    content = content_digest(record.data)  # what the platform sent (a correction must change it), before any 归档配置 applies
    checked = check_case(rt, record)  # 归档配置 (ADR 0017): a broken rule rejects here, before a serial is taken
    record = applied(record, checked)
    execution = state.get("execution", "")
    serial = _serial(rt, record.case, record.project_id)
    try:
        plan = organise(record, serial)
    except EarchiveError as exc:
        raise rejected("organise", exc.with_case(record.project_id).problems) from None
    code = plan.record_code
    existing = aws.catalogue.get(code)
    _may_take(rt, code, existing, record.project_id, state, execution)
    if existing and existing.get("status") in ("ARCHIVED", "ACCEPTED") and same_upload(existing.get("upload"), state["upload"]):
        _finish_archived(rt, state, code, existing)
    version = int((existing or {}).get("package_version", 1))
    history: list[dict[str, Any]] = list((existing or {}).get("versions", []))
    # Returned for what it says (the institution's reason, no failed test): the same content again corrects nothing.
    # Returned because its received copy failed a test (seal, transit): re-archiving the same content is the fix.
    if (existing and existing.get("status") == "RETURNED" and existing.get("content_sha256") == content
            and not existing.get("return_failed_tests")):
        raise rejected("organise", [Problem("CORRECTION-UNCHANGED", f"{code} was returned ({existing.get('return_reason', '')}); "
                                            "this upload is the same case.json and materials as the returned version",
                                            record.project_id, "case.json")])
    if existing and existing.get("status") == "RETURNED":  # the corrected case: a new version, the old one kept
        aws.catalogue.keep_version(existing, version)
        aws.filemap.copy_to(code, f"{code}#v{version}")
        history.append({"version": version, "archive": existing.get("archive"), "returned_batch": existing.get("returned_batch"),
                        "return_reason": existing.get("return_reason")})
        version += 1
    if not existing or existing.get("status") not in ("ARCHIVED", "ACCEPTED"):
        item = {
            "package_id": code, "record_code": code, "project_id": record.project_id, "status": "RECEIVED",
            "upload": state["upload"], "stream": state["stream"], "execution": execution,
            "task_code": record.case["task_code"], "task_name": record.case["task_name"], "task_type": record.case["task_type"],
            "region_code": record.case["region_code"], "fonds_identifier": record.case["fonds_identifier"], "year": plan.year,
            "retention_period": record.case["retention_period"], "total_number": len(plan.files),
            "total_bytes": sum(f.material.declared_size for f in plan.files), "package_version": version, "versions": history,
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "content_sha256": content,
        }
        if checked is not None:  # the 归档配置 versions it was checked against; a later change never rewrites this
            item["config"] = checked
            if checked.get("retention_period"):
                item["platform_retention_period"] = state["case"]["retention_period"]
        mine = existing is not None and existing.get("execution") == execution and existing.get("status") in ("RECEIVED",)
        if not mine:  # our own retry rewrites nothing
            try:
                aws.catalogue.open_package(item, previous=existing)
            except ConflictError:
                raise rejected("organise", [_in_progress(code, record.project_id, "another upload took it at the same moment")]) from None
    aws.events.append(state["stream"], actor=ACTOR, action="organise", result="ok",
                      detail={"record_code": code, "serial": serial, **({"config": checked} if checked is not None else {})})
    out = {**state, "record_code": code, "serial": serial, "year": plan.year}
    if checked is not None:
        out["config"] = checked
    return out  # type: ignore[return-value]


def _finish_archived(rt: Runtime, state: Collected, code: str, item: dict[str, Any]) -> None:
    """This very upload is archived already: an earlier run crashed after ARCHIVED, before it closed the claim.

    The job is done; close the claim and tag the upload as archived, and end the run as handled
    (re-packing would only fail at Seal, run after run).
    """
    # its staging copies, if the crash left any, expire by the staging bucket's lifecycle (Organise deletes nothing)
    finish_upload(rt, {**state, "record_code": code}, state["upload"], "ARCHIVED", code)
    rt.aws.events.append(state["stream"], actor=ACTOR, action="organise", result="already-archived",
                         detail={"record_code": code, "archive": item.get("archive")})
    raise DuplicateDelivery(f"{code}: this upload is {item.get('status')} already (version {item.get('package_version', 1)}); "
                            "its claim is closed now")


def _serial(rt: Runtime, case: dict[str, Any], project_id: str) -> int:
    """The case's serial: the platform's ``archive_serial`` if free (reserved), else the counter's (never a reserved one)."""
    prefix, requested = serial_prefix(case), case.get("archive_serial")
    if not requested:
        return rt.aws.catalogue.allocate_serial(prefix, project_id)
    held = rt.aws.catalogue.serial_of(prefix, project_id)
    if held is not None and held != int(requested):
        raise rejected("organise", [Problem("ARCHIVE-SERIAL-CHANGED", f"case {project_id} is numbered {held} in {prefix} already; "
                                            f"archive_serial {requested} would give it a second 电子文件号", project_id, "case.json")])
    holder = rt.aws.catalogue.reserve_serial(prefix, int(requested), project_id)
    if holder is not None:
        raise rejected("organise", [Problem("ARCHIVE-SERIAL-TAKEN", f"archive_serial {requested} of {prefix} belongs to case {holder}; "
                                            "leave archive_serial out to be numbered by the archive", project_id, "case.json")])
    return int(requested)


def _in_progress(code: str, project_id: str, why: str) -> Problem:
    return Problem("CASE-IN-PROGRESS", f"{code}: {why}; upload again when it has finished (this upload was kept as it is)", project_id)


def _may_take(rt: Runtime, code: str, existing: dict[str, Any] | None, project_id: str, state: Collected, execution: str) -> None:
    """Refuse, by rule, to take an item that belongs to another case or to a live execution of another upload."""
    if existing is None:
        return
    if existing.get("project_id") != project_id:
        raise rejected("organise", [Problem("ARCHIVE-SERIAL-TAKEN", f"{code} belongs to case {existing.get('project_id')}, not to this one",
                                            project_id, "case.json")])
    status = existing.get("status")
    if status in ("ARCHIVED", "ACCEPTED") and not same_upload(existing.get("upload"), state["upload"]):
        raise rejected("organise", [Problem("CASE-ALREADY-ARCHIVED", f"{code} is {status} already "
                                            f"(version {existing.get('package_version', 1)}); a correction is accepted only after the "
                                            "receiving institution returns the package", project_id)])
    owner = existing.get("execution")
    if status in (*IN_FLIGHT, "STORING") and owner and owner != execution:
        owner_status = rt.aws.executions.status(owner)
        if owner_status not in DEAD:
            up = existing.get("upload") or {}
            raise rejected("organise", [_in_progress(code, project_id, f"version {up.get('version')} of {up.get('key')} is being "
                                                     f"archived by {owner} ({owner_status})")])
