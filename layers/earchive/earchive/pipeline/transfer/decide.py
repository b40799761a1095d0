"""Decide (接收入库 / 退回): the institution's decision recorded; packages accepted or returned; the receipt published.

The receipt is the institution's own signed reply when the decision came with one (issue 10);
the development shortcut signs one with the configured institution signer.

Input :class:`~earchive.pipeline.state.Decision`; output :class:`~earchive.pipeline.state.Decided`.
"""

from __future__ import annotations

from ...crypto.cms import signed_data
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
    if batch["status"] not in DECIDED:
        batch = transfers.decide(batch_id, decision.get("returns") or {}, receiver=receiver,
                                 receiver_signature_key=prefix(batch) + "receipt.json.receiver.p7s", by_reply=bool(reply))
    else:  # a retry after the decision was recorded: its head may not have been locked yet (a new locked version is harmless)
        transfers.anchor(batch_id)
    bucket, base = settings.transfer_bucket, prefix(batch)
    if aws.s3.get_bytes(bucket, base + "receipt.json.receiver.p7s") is None:
        if reply:  # the receipt is the institution's reply itself, with its own signature: the window signs nothing for it
            body, signature = aws.s3.get_bytes(bucket, reply["key"]), aws.s3.get_bytes(bucket, reply["key"] + ".p7s")
            if body is None or signature is None:
                raise TransferError(f"the reply {reply['key']} of batch {batch_id} is gone; its decision is recorded")
        else:
            body = canonical(receipt(batch, transfers.packages(batch_id), batch.get("receiver") or receiver))
            signature = signed_data(signer, content=body).dump()
        if reply and reply.get("pdf"):  # the printed list with both parties' signatures: the institution's approval on the window's
            signed_pdf = aws.s3.get_bytes(bucket, reply["pdf"])
            if signed_pdf is None:
                raise TransferError(f"the signed list {reply['pdf']} of batch {batch_id} is gone; its decision is recorded")
            aws.s3.put(bucket, base + "transfer-list.signed.pdf", signed_pdf, "application/pdf")
        aws.s3.put(bucket, base + "receipt.json", body, "application/json")
        aws.s3.put(bucket, base + "receipt.json.receiver.p7s", signature)
    return {"batch_id": batch_id, "status": batch["status"], "accepted": int(batch.get("accepted_count", 0)),
            "returned": int(batch.get("returned_count", 0)), "withdrawn": int(batch.get("withdrawn_count", 0))}
