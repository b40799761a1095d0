"""Decide (接收入库 / 退回): the institution signs the receipt with its own key; packages are accepted or returned.

Input :class:`~earchive.pipeline.state.Decision`; output :class:`~earchive.pipeline.state.Decided`.
"""

from __future__ import annotations

from ...crypto.cms import signed_data
from ...domain.transfer import DECIDED, canonical, transfer_list
from ..runtime import Runtime
from ..state import Decided, Decision
from .common import prefix


def run(decision: Decision, rt: Runtime) -> Decided:
    """The institution's decision: it signs the list with its own key; packages are accepted or returned."""
    aws, settings, transfers = rt.aws, rt.settings, rt.aws.transfers
    batch_id = decision["batch_id"]
    batch = transfers.batch(batch_id)
    if batch["status"] in DECIDED:  # decided already: the machine retried
        return {"batch_id": batch_id, "status": batch["status"], "accepted": int(batch.get("accepted_count", 0)),
                "returned": int(batch.get("returned_count", 0))}
    receiver = decision.get("receiver", "receiving institution")
    document = {**transfer_list(batch, transfers.packages(batch_id)), "receiver": receiver,
                "decisions": {pid: f"退回：{why}" for pid, why in (decision.get("returns") or {}).items()}}
    # The institution's own key (production: its KMS key or key file); never the window's.
    bucket, base = settings.transfer_bucket, prefix(batch)
    body = canonical(document)
    aws.s3.put(bucket, base + "receipt.json", body, "application/json")
    aws.s3.put(bucket, base + "receipt.json.receiver.p7s", signed_data(rt.institution_signer, content=body).dump())
    out = transfers.decide(batch_id, decision.get("returns") or {}, receiver=receiver, receiver_signature_key=base + "receipt.json.receiver.p7s")
    return {"batch_id": batch_id, "status": out["status"], "accepted": int(out["accepted_count"]), "returned": int(out["returned_count"])}
