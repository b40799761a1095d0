"""What was decided on a batch, as the receiving institution reads it (issue 20 item 8; newcomer N2, N9). Pure.

After the decision the window writes ``receipt.json`` to the institution's prefix: the institution's own verified reply
(``packages`` with ``outcome`` and ``reason``) or, by the development shortcut, the window's receipt (``decisions``:
``接收`` / ``退回：…`` / ``未接收：…``). A reply the window refused gets ``<reply>.refused.json`` beside it. These are all the
institution can read, so `earchive receive status`, the local refusal in `receive reply` and the receiver's console page
are built from them here, in one way.
"""

from __future__ import annotations

from typing import Any

from ..zh import beijing
from .final import outcomes_of

DECISION_ZH = {"ACCEPTED": "接收", "RETURNED": "退回", "WITHDRAWN": "未接收"}
OUTCOME_ZH = {"ACCEPTED": "全部接收", "PARTLY_RETURNED": "部分退回", "RETURNED": "全部退回"}


def status_of(accepted: int, total: int) -> str:
    """The batch's outcome as the window's :func:`~earchive.domain.transfer.outcome` names it."""
    return "ACCEPTED" if accepted == total else "RETURNED" if accepted == 0 else "PARTLY_RETURNED"


def from_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    """The decision a receipt records: each package's decision and reason, the counts and the batch's outcome."""
    packages = [{"package_id": pid, "decision": e.get("outcome") or "ACCEPTED", "reason": e.get("reason") or ""}
                for pid, e in outcomes_of(receipt).items()]  # the institution's reply, or the window's receipt, read as domain.final does
    counts = {k: sum(1 for p in packages if p["decision"] == k) for k in DECISION_ZH}
    status = receipt.get("status") if receipt.get("status") in OUTCOME_ZH else status_of(counts["ACCEPTED"], len(packages))
    for p in packages:
        p["decision_zh"] = DECISION_ZH.get(p["decision"], p["decision"])
    return {"batch_id": receipt.get("batch_id"), "status": status, "status_zh": OUTCOME_ZH[status], "accepted": counts["ACCEPTED"],
            "returned": counts["RETURNED"], "withdrawn": counts["WITHDRAWN"], "receiver": receipt.get("receiver"),
            "decided_at": receipt.get("decided_at"), "reply_id": receipt.get("reply_id"), "packages": packages}


def outcome_text(decision: dict[str, Any]) -> str:
    """``部分退回：接收 5 件，退回 1 件`` (``，未接收 1 件`` when the window withdrew any)."""
    text = f"{OUTCOME_ZH.get(decision['status'], decision['status'])}：接收 {int(decision['accepted'])} 件，退回 {int(decision['returned'])} 件"
    return text + (f"，未接收 {int(decision['withdrawn'])} 件" if int(decision.get("withdrawn") or 0) else "")


def already_decided(batch_id: str, decision: dict[str, Any]) -> str:
    """Why a reply to a decided batch is not sent: it would only be refused, and the decision stands (N9)."""
    return (f"批次 {batch_id} 已决定（{outcome_text(decision)}），本次回执未发送 / batch {batch_id} was decided already "
            f"({decision['status']}); this reply was not sent")


def refusal(note: dict[str, Any]) -> dict[str, Any]:
    """A refused reply for people: a Chinese lead line, then the window's reasons as it gave them (English today)."""
    reply = str(note.get("reply") or "")
    reply_id = reply.rsplit("/", 1)[-1].removesuffix(".json")
    return {"reply": reply, "reply_id": reply_id, "refused_at": note.get("refused_at"),
            "lead": f"回执 {reply_id} 于 {beijing(note.get('refused_at'))}（北京时间）被移交单位拒收，批次未作任何改动。原因（原文）：",
            "problems": [str(p) for p in note.get("problems") or []]}


__all__ = ["DECISION_ZH", "OUTCOME_ZH", "already_decided", "from_receipt", "outcome_text", "refusal", "status_of"]
