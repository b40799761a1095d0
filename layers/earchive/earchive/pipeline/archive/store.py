"""Store (接收入库 of the archiving stage): the sealed package into the archive bucket under COMPLIANCE Object Lock.

Input :class:`~earchive.pipeline.state.Registered`; output :class:`~earchive.pipeline.state.Stored`.
The stored copy is verified (S3's SHA-256 checksum and the size) before the
staging copies are removed; a retry finds the version already stored.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from ...errors import TransientError
from ..runtime import Runtime
from ..state import Registered, Stored
from .common import ACTOR, finish_upload


def archive_key(state: Registered) -> str:
    """Where a package lives in the archive bucket: by region, fonds and year."""
    c = state["case"]
    return f"packages/{c['region_code']}/{c['fonds_identifier']}/{state['year']}/{state['record_code']}.zip"


def run(state: Registered, rt: Runtime) -> Stored:
    """Copy the sealed package into the archive bucket under COMPLIANCE Object Lock, verify, then clean up."""
    aws, settings = rt.aws, rt.settings
    code, key = state["record_code"], archive_key(state)
    sha256 = state["package"]["sha256"]
    existing = aws.s3.stored_version(settings.archive_bucket, key, sha256)
    if existing is None:
        until = dt.datetime.fromisoformat(state["retention"]["until"])
        extra: dict[str, Any] = {
            "ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until, "ChecksumAlgorithm": "SHA256",
            "Metadata": {"earchive-sha256": sha256, "earchive-sm3": state["package"]["sm3"], "earchive-record-code": code},
            "ContentType": "application/zip",
        }
        if state["retention"]["legal_hold"]:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        version = aws.s3.copy_locked(settings.staging_bucket, state["staging"]["sealed"], settings.archive_bucket, key, extra)
        head = aws.s3.head(settings.archive_bucket, key, version, checksum=True)
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored and base64.b64decode(stored).hex() != sha256:
            raise TransientError(f"stored copy of {code} has SHA-256 {base64.b64decode(stored).hex()}, expected {sha256}")
        if head["ContentLength"] != state["package"]["size"]:
            raise TransientError(f"stored copy of {code} is {head['ContentLength']} bytes, expected {state['package']['size']}")
    else:
        version = existing
    location = {"bucket": settings.archive_bucket, "key": key, "version_id": version}
    aws.filemap.locate(code, location)
    entry = aws.events.append(state["stream"], actor=ACTOR, action="store", result="ok", detail=location)
    aws.catalogue.move(code, "ARCHIVED", allowed_from=("REGISTERED", "STORING"), owner=state.get("execution", ""), archive=location,
                       archived_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       event_head={"seq": entry["seq"], "hash": entry["hash"]})
    finish_upload(rt, state, state["upload"], "ARCHIVED", code)
    return {**state, "archive": location, "status": "ARCHIVED"}  # type: ignore[typeddict-item]
