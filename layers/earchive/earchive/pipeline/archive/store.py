"""Store (接收入库 of the archiving stage): the sealed package into the archive bucket under COMPLIANCE Object Lock.

Input :class:`~earchive.pipeline.state.Registered`; output :class:`~earchive.pipeline.state.Stored`.
The stored copy is verified (S3's SHA-256 checksum and the size) before the
staging copies are removed; a retry finds the version already stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, unquote

from ...errors import TransientError
from ..runtime import Runtime
from ..state import Registered, Stored
from .common import ACTOR, anchor_head, finish_upload

EVIDENCE = ("signer", "tsa", "check_report")  # kept in the stored version's metadata, so an adopted copy keeps its own


def _evidence(item: dict[str, Any], state: Registered) -> dict[str, str]:
    """Who sealed and time-stamped this package and which check report examined it (S3 metadata is ASCII: quoted)."""
    found = {"signer": item.get("signer"), "tsa": item.get("tsa"), "check_report": (state.get("check") or {}).get("report")}
    return {k: str(v) for k, v in found.items() if v}


def archive_key(state: Registered) -> str:
    """Where a package lives in the archive bucket: by region, fonds and year."""
    c = state["case"]
    return f"packages/{c['region_code']}/{c['fonds_identifier']}/{state['year']}/{state['record_code']}.zip"


def run(state: Registered, rt: Runtime) -> Stored:
    """Copy the sealed package into the archive bucket under COMPLIANCE Object Lock, verify it, then clean up.

    Never a second locked copy (review F9): a retried Store finds the version holding these bytes,
    and a re-run after a crash finds the version an earlier attempt of the *same upload* stored
    (its bytes differ: a re-pack has a new 归档时间) and adopts it, with its own digests. Every
    attempt reads the stored version back — whole-object SHA-256 and size, the lock mode, the
    retain-until date and the legal hold — and fails loudly if anything is short (F16, P2, P10).
    """
    aws, settings = rt.aws, rt.settings
    code, key, bucket = state["record_code"], archive_key(state), settings.archive_bucket
    package = dict(state["package"])
    until = dt.datetime.fromisoformat(state["retention"]["until"])
    stream = state["stream"].removeprefix("upload#")
    unusable: list[str] = []  # locked versions whose bytes are not what their metadata says (kept by the lock, never used)
    found, measured = None, None
    # A retried Store finds these very bytes; a re-run after a crash finds what an earlier attempt of this upload locked.
    for wanted in ({"earchive-sha256": package["sha256"]}, {"earchive-stream": stream, "earchive-record-code": code}):
        candidate = aws.s3.version_with(bucket, key, wanted)
        if candidate is None or candidate[0] in unusable:
            continue
        measured = aws.s3.digests(bucket, key, candidate[0])
        if measured[1]["SHA-256"] != candidate[1].get("earchive-sha256"):
            unusable.append(candidate[0])
            continue
        found = candidate
        package.update(sha256=candidate[1]["earchive-sha256"], sm3=candidate[1]["earchive-sm3"])
        break
    evidence = _evidence(aws.catalogue.get(code) or {}, state)
    if found is None:
        extra: dict[str, Any] = {
            "ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until, "ChecksumAlgorithm": "SHA256",
            "Metadata": {"earchive-sha256": package["sha256"], "earchive-sm3": package["sm3"], "earchive-record-code": code,
                         "earchive-stream": stream, **{f"earchive-{k.replace('_', '-')}": quote(v) for k, v in evidence.items()}},
            "ContentType": "application/zip",
        }
        if state["retention"]["legal_hold"]:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        version = aws.s3.copy_locked(settings.staging_bucket, state["staging"]["sealed"], bucket, key, extra)
    else:
        version = found[0]
        # what sealed and checked *these* bytes: the earlier attempt's signer, TSA and check report, not the re-pack's
        evidence = {k: unquote(found[1][f"earchive-{k.replace('_', '-')}"]) for k in EVIDENCE if f"earchive-{k.replace('_', '-')}" in found[1]}
        if not evidence:  # locked before its evidence was kept beside it: never record the re-pack's as if it were its own
            evidence = {k: "unknown: the adopted copy was stored before its seal evidence was recorded with it" for k in EVIDENCE}
    size, digests = measured if found is not None and measured else aws.s3.digests(bucket, key, version)  # every attempt reads back
    if digests["SHA-256"] != package["sha256"] or (found is None and size != package["size"]):
        raise TransientError(f"stored copy of {code} (version {version}) has SHA-256 {digests['SHA-256']} and {size} bytes, "
                             f"expected {package['sha256']} and {package['size']}")
    package["size"] = size
    aws.s3.ensure_lock(bucket, key, version, until, bool(state["retention"]["legal_hold"]))
    location = {"bucket": bucket, "key": key, "version_id": version}
    aws.filemap.locate(code, location)
    entry = aws.events.append(state["stream"], actor=ACTOR, action="store", result="ok",
                              detail={**location, "sha256": package["sha256"], "adopted": found is not None and package != state["package"],
                                      **({"unusable_versions": unusable} if unusable else {})})
    anchor_head(rt, state["stream"], entry, until)
    aws.catalogue.move(code, "ARCHIVED", allowed_from=("REGISTERED",), owner=state.get("execution", ""), archive=location,
                       archived_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), package_sha256=package["sha256"],
                       package_sm3=package["sm3"], package_size=size, event_head={"seq": entry["seq"], "hash": entry["hash"]}, **evidence)
    finish_upload(rt, state, state["upload"], "ARCHIVED", code)
    return {**state, "package": package, "archive": location, "status": "ARCHIVED"}  # type: ignore[typeddict-item]
