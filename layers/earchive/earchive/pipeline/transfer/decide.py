"""Decide (接收入库 / 退回): the institution's decision recorded; packages accepted or returned; the receipt published.

The receipt is the institution's own signed reply when the decision came with one (issue 10);
the development shortcut signs one with the configured institution signer.

Input :class:`~earchive.pipeline.state.Decision`; output :class:`~earchive.pipeline.state.Decided`.
"""

from __future__ import annotations

import json

from ...crypto.cades import add_signature_timestamp
from ...crypto.cms import signed_data
from ...domain.final import final_list
from ...domain.outcome import outcome
from ...domain.transfer import DECIDED, canonical, receipt
from ...errors import TransferError
from ..runtime import Runtime
from ..state import Decided, Decision
from .common import prefix


def run(decision: Decision, rt: Runtime) -> Decided:
    """Record the institution's decision first, then publish the receipt it signs with every package's outcome (F11).

    A decision that names a package outside the batch is refused before anything is recorded,
    signed or sent (TransferError: the machine waits for a new decision, P1). A retry after the
    decision was recorded only writes the receipt if it is missing.
    """
    aws, settings, transfers = rt.aws, rt.settings, rt.aws.transfers
    batch_id = decision["batch_id"]
    batch = transfers.batch(batch_id)
    receiver = decision.get("receiver", "receiving institution")
    reply = decision.get("reply")  # the institution's own signed reply, verified by the window (TransferService.take_reply)
    # Without one (the development shortcut `transfer accept|return`), the receipt is signed here with the configured
    # institution signer: before anything is recorded, so a signer that cannot sign stops the decision, not the receipt.
    signer = None if reply else rt.institution_signer
    try:
        verified = _verified_bytes(aws, settings.transfer_bucket, reply) if reply else None  # before anything is recorded
    except TransferError:  # the reply that held the batch decides nothing: the batch waits for the institution's next one
        transfers.release_reply(batch_id, str(reply.get("reply_id") or ""))
        raise
    returns = decision.get("returns") or {}
    if verified:  # the institution's decision is what its signed reply says, read from the bytes verified (not the task's answer)
        packages = json.loads(verified[0])["packages"]
        returns = {p["package_id"]: p["reason"] for p in packages if p["outcome"] == "RETURNED"}
    if batch["status"] not in DECIDED:
        batch = transfers.decide(batch_id, returns, receiver=receiver,
                                 receiver_signature_key=prefix(batch) + "receipt.json.receiver.p7s", by_reply=bool(reply))
    else:  # a retry after the decision was recorded: its head may not have been locked yet (a new locked version is harmless)
        transfers.anchor(batch_id)
    bucket, base = settings.transfer_bucket, prefix(batch)
    if aws.s3.get_bytes(bucket, base + "receipt.json.receiver.p7s") is None:
        if verified:  # the receipt is the institution's reply itself, as verified, with its own signature: the window signs nothing
            body, signature, signed_pdf = verified
            if signed_pdf is not None:  # the printed list with both parties' signatures: the institution's approval on the window's
                aws.s3.put(bucket, base + "transfer-list.signed.pdf", signed_pdf, "application/pdf")
        else:
            body = canonical(receipt(batch, transfers.packages(batch_id), batch.get("receiver") or receiver))
            signature = add_signature_timestamp(signed_data(signer, content=body).dump(), rt.tsa)  # timestamped, as any reply
        aws.s3.put(bucket, base + "receipt.json", body, "application/json")
        aws.s3.put(bucket, base + "receipt.json.receiver.p7s", signature)
    listing, receipt_body = aws.s3.get_bytes(bucket, base + "transfer-list.json"), aws.s3.get_bytes(bucket, base + "receipt.json")
    if listing and receipt_body:  # the table's rows become the decided list's, from the two signed documents (one list, one truth)
        transfers.save_rows(batch_id, final_list(json.loads(listing), json.loads(receipt_body))["rows"])
    _announce(rt, batch)  # at least once: a retry announces again (the platform keys on project_id, status and batch)
    return {"batch_id": batch_id, "status": batch["status"], "accepted": int(batch.get("accepted_count", 0)),
            "returned": int(batch.get("returned_count", 0)), "withdrawn": int(batch.get("withdrawn_count", 0))}


def _verified_bytes(aws, bucket: str, reply: dict) -> tuple[bytes, bytes, bytes | None]:
    """The reply, its signature and its signed PDF, only if they are still the bytes the reply machine verified (their SHA-256)."""
    import hashlib

    want = reply.get("sha256") or {}
    found = {"json": aws.s3.get_bytes(bucket, reply["key"]), "p7s": aws.s3.get_bytes(bucket, reply["key"] + ".p7s"),
             "pdf": aws.s3.get_bytes(bucket, reply["pdf"]) if reply.get("pdf") else None}
    for part, data in found.items():
        if part == "pdf" and not reply.get("pdf"):
            continue
        if data is None:
            raise TransferError(f"the reply {reply['key']} ({part}) is gone since it was verified; nothing was recorded")
        if want.get(part) and hashlib.sha256(data).hexdigest() != want[part]:
            raise TransferError(f"the reply {reply['key']} ({part}) changed after it was verified; nothing was recorded — the institution sends it again")
    return found["json"], found["p7s"], found["pdf"]


def _announce(rt: Runtime, batch: dict) -> None:
    """The platform hears each package's outcome: accepted, or returned with the institution's reason."""
    details = []
    for p in rt.aws.transfers.packages(batch["batch_id"]):
        if p.get("state") not in ("ACCEPTED", "RETURNED"):
            continue
        item = rt.aws.catalogue.get(p["package_id"]) or {"package_id": p["package_id"], "record_code": p.get("record_code")}
        details.append(outcome(p["state"], item, batch=batch, reason=p.get("return_reason") if p["state"] == "RETURNED" else None))
    rt.announce(f"batch#{batch['batch_id']}", details)
