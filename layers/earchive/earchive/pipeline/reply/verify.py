"""Verify (回执核验): the institution's reply, announced by S3, is checked; a good one resumes the waiting batch.

Input: the EventBridge 'Object Created' event of ``institutions/<code>/replies/<batch>/<reply_id>.json`` with the
state's retry count (``attempt``). Output :class:`~earchive.pipeline.state.Verdict`: taken, refused or ignored.

The institution uploads the reply's PDF and signature first and the JSON last, so the JSON's event finds all three.
A reply must carry a signature timestamp (CAdES-T) from a TSA the stack trusts; its time is the one at which the
institution's certificate must be valid. A reply that fails any rule changes nothing: ``<reply>.refused.json`` beside it says why and the event log records
it. `earchive transfer take-reply` runs the same :func:`examine` over replies no event has decided yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from typing import Any

from ...aws.clients import aws_error, transient
from ...domain import reply as replies
from ...domain import strict_json
from ...domain.transfer import FINAL_PACKAGE_STATES
from ...errors import ReplyTooEarly, TransferError, TransientError, UnknownBatch
from ..runtime import Runtime
from ..state import ReplyArrived, Verdict

REPLY_KEY = re.compile(r"^institutions/([^/]+)/replies/([^/]+)/([^/]+)\.json$")
log = logging.getLogger(__name__)
EARLY_ATTEMPTS = 8  # the ASL retries a reply that came before the batch waits (about 8 minutes), then leaves it for take-reply


def run(event: ReplyArrived, rt: Runtime) -> Verdict:
    """The reply the event names, examined once; anything else under the bucket is ignored by name."""
    key = event["detail"]["object"]["key"]
    m = REPLY_KEY.match(key)
    if not m or key.endswith(".refused.json"):
        return {"key": key, "outcome": "ignored", "why": "not an institution's reply"}
    code, batch_id, _ = m.groups()
    # whom the reply's TSA (its signature timestamp, its PDF's document timestamp) must chain to: the stack's TSA anchors,
    # else its trust anchors (TsaTrustAnchorsParameter, TrustAnchorsParameter); neither set: the development CA
    anchors = rt.tsa_trust() or rt.trust()
    return examine(rt.aws, rt.settings.transfer_bucket, code, batch_id, key, actor="earchive-reply-verify",
                   early_ok=int(event.get("attempt") or 0) < EARLY_ATTEMPTS, tsa_anchors=anchors[0] if anchors else None)


def examine(aws: Any, bucket: str, code: str, batch_id: str, key: str, *, actor: str, early_ok: bool = False,
            tsa_anchors: list[Any] | None = None) -> Verdict:
    """Verify one reply and apply it, or write why not; ``early_ok`` raises :class:`ReplyTooEarly` for a batch not yet waiting.

    Every reply ends in a verdict (issue 21): whatever goes wrong while examining it — a hostile document, a bug — is a
    refusal with its reason beside the reply and in the event log, never a crash that leaves it undecided. Only an outage
    (TransientError, retried) and a reply that came early (ReplyTooEarly) leave it for another look.
    """
    took: list[str] = []  # set once this run took the reply: from then on a failure is retried, never a refusal
    try:
        return _examine(aws, bucket, code, batch_id, key, actor=actor, early_ok=early_ok, tsa_anchors=tsa_anchors, took=took)
    except (ReplyTooEarly, TransientError):
        raise
    except Exception as exc:  # what the reply is broke the examination: refused by name, not left undecided
        if aws_error(exc):  # AWS, not the reply: an outage is retried, a configuration error fails the run (ReplyNotExamined)
            if transient(exc):
                raise TransientError(f"reply {key} not examined yet: {exc}") from exc
            raise
        if took:
            raise
        log.exception("reply %s could not be examined", key)
        why = f"回执无法核验，已拒收 / the reply could not be examined ({type(exc).__name__}: {str(exc)[:200]})"
        return _refuse(aws, bucket, key, batch_id, [why], actor)


def _examine(aws: Any, bucket: str, code: str, batch_id: str, key: str, *, actor: str, early_ok: bool,
             tsa_anchors: list[Any] | None, took: list[str]) -> Verdict:
    s3, transfers = aws.s3, aws.transfers
    try:
        batch = transfers.batch(batch_id)
    except UnknownBatch:
        return _refuse(aws, bucket, key, batch_id, [f"there is no batch {batch_id}"], actor, stream=f"institution#{code}")
    if batch["institution"] != code:
        return _refuse(aws, bucket, key, batch_id, [f"batch {batch_id} is addressed to {batch['institution']}, not to {code}"], actor)
    waiting = batch["status"] == "RECEIVING" and batch.get("task_token")
    if not waiting and batch["status"] in ("SUBMITTED", "RECEIVING"):
        if early_ok:
            raise ReplyTooEarly(f"batch {batch_id} is {batch['status']} and not yet waiting for a decision; the reply {key} waits")
        # no refusal: the reply is good or bad on its own; `transfer take-reply` examines it once the batch waits
        aws.events.append(f"batch#{batch_id}", actor=actor, action="reply-early", result="waiting", detail={"key": key})
        return {"key": key, "outcome": "waiting", "batch_id": batch_id, "why": f"batch {batch_id} is not yet waiting for a decision"}
    base = f"institutions/{code}/batches/{batch_id}/"
    body, signature = s3.get_bytes(bucket, key) or b"", s3.get_bytes(bucket, key + ".p7s") or b""
    certified = s3.get_bytes(bucket, base + "transfer-list.pdf")
    replied_pdf = s3.get_bytes(bucket, key[:-5] + ".pdf") if certified is not None else None
    reply_id = _reply_id(body)
    taken = _taken_from_here(transfers, batch_id, reply_id, key)
    if taken:  # this very reply, taken by an earlier run: resume the batch if that run could not
        return _taken(aws, batch, key, json.loads(body), taken.get("sha256") or {}, waiting, actor, "taken already by an earlier run")
    listing_bytes = s3.get_bytes(bucket, base + "transfer-list.json") or b"{}"
    problems = replies.check(body, signature, institution=aws.institutions.get(code), listing=json.loads(listing_bytes),
                             list_sha256=hashlib.sha256(listing_bytes).hexdigest(), used_reply_ids=transfers.used_replies(batch_id),
                             at=dt.datetime.now(dt.UTC), certified_pdf=certified, replied_pdf=replied_pdf, tsa_anchors=tsa_anchors)
    if problems:  # what the reply is, first: a forgery is named as one even when the batch is decided already
        if _taken_from_here(transfers, batch_id, reply_id, key):  # a run racing this one took this same reply meanwhile: not a replay
            return _taken_elsewhere(key, batch_id, reply_id or "")
        return _refuse(aws, bucket, key, batch_id, problems, actor)
    if not waiting:
        return _refuse(aws, bucket, key, batch_id, [f"batch {batch_id} is {batch['status']}: it is not waiting for a decision"], actor)
    reply = json.loads(body)
    states = {p["package_id"]: p.get("state") for p in transfers.packages(batch_id)}
    # a package already decided means another reply decided the batch since it was read: taking this one below then refuses
    # it by that reply's name (never as "not copied", which would send the institution looking for a fault that is not there)
    decided_meanwhile = any(state in FINAL_PACKAGE_STATES for state in states.values())
    unreceived = [] if decided_meanwhile else [p["package_id"] for p in reply["packages"]
                                               if p.get("outcome") == "ACCEPTED" and states.get(p["package_id"]) != "CHECKED"]
    if unreceived:  # the window never completed its copy and check: accepting it would sign what the window withdraws
        return _refuse(aws, bucket, key, batch_id, [f"{pid} 未完成接收检测（复制或检测失败），不能接收 / was never copied and checked; "
                                                    "return it or wait for the window to send it again" for pid in unreceived[:20]], actor)
    # the exact bytes verified: Decide takes the reply only if these are still what it reads (no swap after the check)
    digests = {"json": _sha(body), "p7s": _sha(signature), **({"pdf": _sha(replied_pdf)} if replied_pdf is not None else {})}
    try:
        transfers.use_reply(batch_id, reply["reply_id"], key, actor=actor, sha256=digests)  # conditional: a replay racing this one loses
        took.append(reply["reply_id"])
    except TransferError as exc:
        if _taken_from_here(transfers, batch_id, reply["reply_id"], key):  # a run racing this one took this same reply
            return _taken_elsewhere(key, batch_id, reply["reply_id"])
        return _refuse(aws, bucket, key, batch_id, [str(exc)], actor)
    return _taken(aws, batch, key, reply, digests, True, actor, "")


def _taken_from_here(transfers: Any, batch_id: str, reply_id: str | None, key: str) -> dict[str, Any] | None:
    """The record of this reply id when it was taken from this very key and still holds the batch (the same reply seen twice,
    not a replay). A reply of a round since cancelled (the batch sent again) or one that let go of the batch is not: it is
    a used reply id, refused as a replay, and never resumes a new round."""
    taken = transfers.reply_taken_from(batch_id, reply_id) if reply_id else None
    if not taken or taken["key"] != key:
        return None
    return taken if transfers.batch(batch_id).get("reply_taken") == reply_id else None


def _taken_elsewhere(key: str, batch_id: str, reply_id: str) -> Verdict:
    return {"key": key, "outcome": "taken", "batch_id": batch_id, "reply_id": reply_id, "why": "taken by a concurrent run"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _taken(aws: Any, batch: dict[str, Any], key: str, reply: dict[str, Any], digests: dict[str, str], waiting: bool, actor: str,
           why: str) -> Verdict:
    """Resume the waiting batch with the verified decision; a task already resumed or gone is not an error (the reply is taken)."""
    returns = {p["package_id"]: p["reason"] for p in reply["packages"] if p["outcome"] == "RETURNED"}
    if waiting:
        # the reasons stay in the reply Decide reads back by its digests: a task's answer is bounded to 256 KiB, and a batch
        # returning many packages with long reasons would pass it (issue 22, F7)
        decision = {"batch_id": batch["batch_id"], "receiver": reply["receiver"],
                    "reply": {"key": key, "reply_id": reply["reply_id"], "sha256": digests, **({"pdf": key[:-5] + ".pdf"} if "pdf" in digests else {})}}
        closed = aws.executions.resume_if_waiting(batch["task_token"], decision)
        if closed:
            aws.events.append(f"batch#{batch['batch_id']}", actor=actor, action="reply-resume-skipped", result=closed, detail={"key": key})
    return {"key": key, "outcome": "taken", "batch_id": batch["batch_id"], "reply_id": reply["reply_id"], "returned": len(returns),
            **({"why": why} if why else {})}


def _reply_id(body: bytes) -> str | None:
    try:
        doc = strict_json.loads(body, max_bytes=replies.MAX_BYTES)
    except ValueError:
        return None
    return doc.get("reply_id") if isinstance(doc, dict) and isinstance(doc.get("reply_id"), str) else None


def _refuse(aws: Any, bucket: str, key: str, batch_id: str, problems: list[str], actor: str, stream: str | None = None) -> Verdict:
    reply_id = _reply_id(aws.s3.get_bytes(bucket, key) or b"")
    if reply_id and not _taken_from_here(aws.transfers, batch_id, reply_id, key):  # it never decided: the batch waits for another
        aws.transfers.release_reply(batch_id, reply_id)
    note = {"reply": key, "batch_id": batch_id, "refused_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "problems": problems, "changed": "nothing"}
    aws.s3.put(bucket, key[:-5] + ".refused.json", json.dumps(note, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    aws.events.append(stream or f"batch#{batch_id}", actor=actor, action="reply-refused", result="refused", detail={"key": key, "problems": problems[:20]})
    return {"key": key, "outcome": "refused", "batch_id": batch_id, "problems": problems[:20]}
