"""One list, one truth: every view of a decided batch is rendered from the two signed documents, nothing else.

The window signs the transfer list (``transfer-list.json``) at submit; the institution signs its reply, which
the window keeps as the batch's receipt (``receipt.json``). :func:`final_list` joins the two into the decided
list — Table A.1 with its 检测意见, 接收人 and 接收日期, the 登记表's 接收单位 column, each package's outcome — and
the PDF's fields (filled by the institution before it signed), the XLSX, the CSV and the JSON of the batch all
come from it. Nothing is re-derived from today's catalogue, so a re-export years later says the same (issue 20).

Pure: signed JSON in, a dict out.
"""

from __future__ import annotations

import copy
from typing import Any

from .transfer import beijing_date
from .wording import opinion, register_rows

CARRIER_RECEIVED = "在线接收，无实体载体"
LISTED_STATUS = "TRANSFERRING"  # a listed version before the institution decided


def outcomes_of(decision: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """电子文件号 → {outcome, reason, failed_tests, manual_tests, checked_at}, from a reply or a receipt.

    A reply (``reply_id``) lists its packages; a receipt the window signed (the development shortcut) lists
    ``outcomes``; a receipt from before these were kept has only ``decisions`` texts (接收 / 退回：… / 未接收：…).
    """
    if not decision:
        return {}
    if isinstance(decision.get("outcomes"), list):
        entries = decision["outcomes"]
    elif decision.get("reply_id") and isinstance(decision.get("packages"), list):
        entries = decision["packages"]
    else:
        entries = []
        for pid, text in (decision.get("decisions") or {}).items():
            text = str(text)
            kind = "ACCEPTED" if text == "接收" else "WITHDRAWN" if text.startswith("未接收") else "RETURNED"
            entries.append({"package_id": pid, "outcome": kind, **({"reason": text.split("：", 1)[-1]} if kind != "ACCEPTED" else {})})
    return {str(e["package_id"]): e for e in entries if isinstance(e, dict) and e.get("package_id")}


def _check(entry: dict[str, Any] | None) -> dict[str, Any]:
    """A package's 接收检测 as :mod:`earchive.domain.wording` reads it; empty when it was never checked."""
    if not entry or not (entry.get("checked_at") or entry.get("failed_tests") or entry.get("outcome") == "ACCEPTED"):
        return {}
    manual = entry.get("manual_tests")  # None: a reply or receipt from before they were kept — unknown, never "none"
    return {"failed": list(entry.get("failed_tests") or []), "manual": None if manual is None else list(manual)}


def final_list(listing: dict[str, Any], decision: dict[str, Any] | None) -> dict[str, Any]:
    """The decided transfer list: the signed list with the institution's answers where Table A.1 and the 登记表 ask for them.

    Without a decision it is the list as sent (检测意见 waiting for the institution).
    """
    doc = copy.deepcopy(listing)
    outcomes = outcomes_of(decision)
    for p in doc["packages"]:
        found = outcomes.get(p["record_code"])
        p["outcome"] = found.get("outcome") if found else LISTED_STATUS
        if found and found.get("reason"):
            p["reason"] = found["reason"]
    if not decision:
        return doc
    for row in doc["rows"]:
        members = [p for p in doc["packages"] if p.get("task_name") == row["办理事项名称"]
                   and p.get("task_type", row["事项类型"]) == row["事项类型"]]
        row["检测意见"] = opinion([{**(outcomes.get(p["record_code"]) or {}), "outcome": p["outcome"]} for p in members])
    checks = [_check(outcomes.get(p["record_code"])) for p in doc["packages"]]
    doc["receiver_checks"] = {**{f"{k}检验": v for k, v in register_rows(checks).items()}, "载体外观检验": CARRIER_RECEIVED}
    doc["receiver"] = str(decision.get("receiver") or "")
    doc["decided_at"] = decision.get("decided_at")
    try:
        doc["received_date"] = beijing_date(str(decision["decided_at"])) if decision.get("decided_at") else ""
    except ValueError:  # a receipt is refused for this before it is taken; an export never crashes on one
        doc["received_date"] = ""
    approval = receiver_approval(decision)
    if approval:
        doc["receiver_approval"] = approval
    kinds = [p["outcome"] for p in doc["packages"]]
    accepted = kinds.count("ACCEPTED")
    doc["status"] = "ACCEPTED" if accepted == len(kinds) else "RETURNED" if accepted == 0 else "PARTLY_RETURNED"
    doc["counts"] = {"accepted": accepted, "returned": kinds.count("RETURNED"), "withdrawn": kinds.count("WITHDRAWN")}
    return doc


def receiver_approval(decision: dict[str, Any]) -> dict[str, str] | None:
    """How the institution approved the printed list when not by a PAdES signature on it: an SM2-only institution's signed
    reply (``"approval": "sm2-reply"``), which the window verified before taking it — the signature with the registered SM2
    certificate and the list's SHA-256 and SM3 (:func:`earchive.domain.reply.sm2_approval_problems`). None otherwise."""
    if decision.get("approval") != "sm2-reply":
        return None
    return {"form": "sm2-reply", "reply_id": str(decision.get("reply_id") or ""), "signer": str(decision.get("signer") or ""),
            "certificate_sha256": str(decision.get("signer_certificate_sha256") or ""),
            "list_pdf_sha256": str(decision.get("list_pdf_sha256") or ""), "list_pdf_sm3": str(decision.get("list_pdf_sm3") or "")}


def catalogue_items(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's 归档目录清单: each version the batch carried, as the signed list states it, with the batch's outcome."""
    return [{"record_code": p["record_code"], "project_id": p.get("project_id", ""), "task_name": p.get("task_name", ""),
             "task_type": p.get("task_type", ""), "retention_period": p.get("retention_period", ""), "total_number": p.get("total_number", ""),
             "package_size": p.get("size", ""), "package_sm3": (p.get("digest") or {}).get("value", ""), "archived_at": p.get("archived_at", ""),
             "package_version": p.get("version", 1), "status": p.get("outcome") or LISTED_STATUS} for p in document["packages"]]


__all__ = ["catalogue_items", "final_list", "outcomes_of", "receiver_approval"]
