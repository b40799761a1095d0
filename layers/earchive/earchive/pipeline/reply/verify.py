"""Verify (回执核验): the institution's reply, announced by S3, is checked; a good one resumes the waiting batch.

Input: the EventBridge 'Object Created' event of ``institutions/<code>/replies/<batch>/<reply_id>.json`` with the
state's retry count (``attempt``). Output :class:`~earchive.pipeline.state.Verdict`: taken, refused or ignored.

The institution uploads the reply's PDF and signature first and the JSON last, so the JSON's event finds all three.
A reply that fails any rule changes nothing: ``<reply>.refused.json`` beside it says why and the event log records
it. `earchive transfer take-reply` runs the same :func:`examine` over replies no event has decided yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from ...domain import reply as replies
from ...errors import ReplyTooEarly, TransferError, UnknownBatch
from ..runtime import Runtime
from ..state import ReplyArrived, Verdict

REPLY_KEY = re.compile(r"^institutions/([^/]+)/replies/([^/]+)/([^/]+)\.json$")
EARLY_ATTEMPTS = 8  # the ASL retries a reply that came before the batch waits (about 8 minutes), then it is refused


def run(event: ReplyArrived, rt: Runtime) -> Verdict:
    """The reply the event names, examined once; anything else under the bucket is ignored by name."""
    key = event["detail"]["object"]["key"]
    m = REPLY_KEY.match(key)
    if not m or key.endswith(".refused.json"):
        return {"key": key, "outcome": "ignored", "why": "not an institution's reply"}
    code, batch_id, _ = m.groups()
    anchors = rt.tsa_trust()
    return examine(rt.aws, rt.settings.transfer_bucket, code, batch_id, key, actor="earchive-reply-verify",
                   early_ok=int(event.get("attempt") or 0) < EARLY_ATTEMPTS, tsa_anchors=anchors[0] if anchors else None)


def examine(aws: Any, bucket: str, code: str, batch_id: str, key: str, *, actor: str, early_ok: bool = False,
            tsa_anchors: list[Any] | None = None) -> Verdict:
    """Verify one reply and apply it, or write why not; ``early_ok`` raises :class:`ReplyTooEarly` for a batch not yet waiting."""
    s3, transfers = aws.s3, aws.transfers
    try:
        batch = transfers.batch(batch_id)
    except UnknownBatch:
        return _refuse(aws, bucket, key, batch_id, [f"there is no batch {batch_id}"], actor, stream=f"institution#{code}")
    if batch["institution"] != code:
        return _refuse(aws, bucket, key, batch_id, [f"batch {batch_id} is addressed to {batch['institution']}, not to {code}"], actor)
    waiting = batch["status"] == "RECEIVING" and batch.get("task_token")
    if not waiting and early_ok and batch["status"] in ("SUBMITTED", "RECEIVING"):
        raise ReplyTooEarly(f"batch {batch_id} is {batch['status']} and not yet waiting for a decision; the reply {key} waits")
    body, signature = s3.get_bytes(bucket, key) or b"", s3.get_bytes(bucket, key + ".p7s") or b""
    reply_id = _reply_id(body)
    if reply_id and transfers.reply_taken_from(batch_id, reply_id) == key:  # this very reply, taken by another run: not a replay
        return {"key": key, "outcome": "taken", "batch_id": batch_id, "reply_id": reply_id, "why": "taken already by an earlier run"}
    base = f"institutions/{code}/batches/{batch_id}/"
    listing_bytes = s3.get_bytes(bucket, base + "transfer-list.json") or b"{}"
    problems = replies.check(body, signature, institution=aws.institutions.get(code), listing=json.loads(listing_bytes),
                             list_sha256=hashlib.sha256(listing_bytes).hexdigest(), used_reply_ids=transfers.used_replies(batch_id),
                             at=dt.datetime.now(dt.UTC), certified_pdf=s3.get_bytes(bucket, base + "transfer-list.pdf"),
                             replied_pdf=s3.get_bytes(bucket, key[:-5] + ".pdf"), tsa_anchors=tsa_anchors)
    if problems:  # what the reply is, first: a forgery is named as one even when the batch is decided already
        return _refuse(aws, bucket, key, batch_id, problems, actor)
    if not waiting:
        return _refuse(aws, bucket, key, batch_id, [f"batch {batch_id} is {batch['status']}: it is not waiting for a decision"], actor)
    reply = json.loads(body)
    try:
        transfers.use_reply(batch_id, reply["reply_id"], key, actor=actor)  # conditional: a replay racing this one loses here
    except TransferError as exc:
        if transfers.reply_taken_from(batch_id, reply["reply_id"]) == key:  # a run racing this one took this same reply
            return {"key": key, "outcome": "taken", "batch_id": batch_id, "reply_id": reply["reply_id"], "why": "taken by a concurrent run"}
        return _refuse(aws, bucket, key, batch_id, [str(exc)], actor)
    returns = {p["package_id"]: p["reason"] for p in reply["packages"] if p["outcome"] == "RETURNED"}
    decision = {"batch_id": batch_id, "receiver": reply["receiver"], "returns": returns,
                "reply": {"key": key, "reply_id": reply["reply_id"], **({"pdf": key[:-5] + ".pdf"} if "signed_pdf_sha256" in reply else {})}}
    aws.executions.send_success(batch["task_token"], decision)
    return {"key": key, "outcome": "taken", "batch_id": batch_id, "reply_id": reply["reply_id"], "returned": len(returns)}


def _reply_id(body: bytes) -> str | None:
    try:
        doc = json.loads(body) if len(body) <= replies.MAX_BYTES else None
    except ValueError:
        return None
    return doc.get("reply_id") if isinstance(doc, dict) and isinstance(doc.get("reply_id"), str) else None


def _refuse(aws: Any, bucket: str, key: str, batch_id: str, problems: list[str], actor: str, stream: str | None = None) -> Verdict:
    note = {"reply": key, "batch_id": batch_id, "refused_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "problems": problems, "changed": "nothing"}
    aws.s3.put(bucket, key[:-5] + ".refused.json", json.dumps(note, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    aws.events.append(stream or f"batch#{batch_id}", actor=actor, action="reply-refused", result="refused", detail={"key": key, "problems": problems[:20]})
    return {"key": key, "outcome": "refused", "batch_id": batch_id, "problems": problems[:20]}
