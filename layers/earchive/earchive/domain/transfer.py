"""Transfer and receipt (申请移交, 接收检测, 接收入库): batches, the 移交清单, decisions.

A transfer batch (批次) gathers archived packages chosen by the window
(综合受理窗口). Its list follows the seed's Table A.1 — one row per service
item: 序号, 批次编号, 办理事项名称, 事项类型, 归档信息包数量, 检测意见, 备注 — with
移交人 / 接收人 / 移交日期. DynamoDB holds the batch (``BATCH``) and one item per
package (``PKG#<id>``); every state move is a conditional write and goes to
the event log, and a package joins a batch by one conditional write on its
catalogue item (not a transaction, ADR 0007), so it can never be in two batches.

States: DRAFT → SUBMITTED → RECEIVING → ACCEPTED | PARTLY_RETURNED | RETURNED.
This module holds the rules and documents (pure); the table's reads and
writes are :class:`earchive.aws.transfers.Transfers`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .collect import CHINA_TZ

TABLE_A1 = ("序号", "批次编号", "办理事项名称", "事项类型", "归档信息包数量", "检测意见", "备注")
DECIDED = ("ACCEPTED", "PARTLY_RETURNED", "RETURNED")
FINAL_PACKAGE_STATES = ("ACCEPTED", "RETURNED", "WITHDRAWN")
OPINION_PENDING = "（接收单位检测后填写）"
WITHDRAWN_REASON = "未完成接收检测（复制或检测失败），移出本批次，无需更正，可随下一批次再次移交 / never copied and checked: it travels again in the next batch"


@dataclass(frozen=True)
class Selection:
    """Which archived packages a batch gathers; all given criteria must hold."""

    archived_from: str | None = None  # ISO date, inclusive
    archived_to: str | None = None  # ISO date, inclusive
    task_code: str | None = None
    task_type: str | None = None  # 行政权力事项 / 公共服务事项
    package_ids: tuple[str, ...] = ()

    def matches(self, item: dict[str, Any]) -> bool:
        day = str(item.get("archived_at", ""))[:10]
        return all([
            not self.package_ids or item["package_id"] in self.package_ids,
            not self.archived_from or day >= self.archived_from,
            not self.archived_to or day <= self.archived_to,
            not self.task_code or item.get("task_code") == self.task_code,
            not self.task_type or item.get("task_type") == self.task_type,
        ])


def now() -> str:
    """The time stamps of batch moves: UTC, seconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def beijing_date(iso: str) -> str:
    """The Beijing date of a stored UTC time (the date printed on signed lists agrees with the batch id, P11)."""
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(CHINA_TZ).date().isoformat()


def next_batch_day() -> dt.date:
    """Batch ids carry the day in Beijing time (YYYYMMDD + sequence)."""
    return dt.datetime.now(CHINA_TZ).date()


def decisions(packages: list[dict[str, Any]], returns: dict[str, str], *,
              precheck_binds: bool = True) -> list[tuple[str, dict[str, Any], str | None, list[str]]]:
    """(ACCEPTED | RETURNED, package, reason, failed tests) for every package of a batch.

    Every package not in ``returns`` (package_id → reasons) is accepted, except
    one whose receiving check failed (returned with its failed tests even if the
    institution gave no reason) and one that was never copied and checked (P3):
    only a package the institution received and checked can be accepted. Such a
    package is WITHDRAWN, not returned: nothing is wrong with the case, so it stays
    ARCHIVED and travels again in the next batch without a correction. When the institution
    decided with its own signed reply (``precheck_binds=False``), the window's pre-check is only an
    early warning: the reply's outcome stands.
    """
    out = []
    for p in packages:
        failed = [f"{f['id']} {f['name']}: {f['detail']}" for f in (p.get("receipt") or {}).get("failed", [])]
        if p.get("state") in FINAL_PACKAGE_STATES:  # decided by an earlier attempt: as recorded
            out.append((p["state"], p, p.get("return_reason"), failed))
            continue
        reason = returns.get(p["package_id"])
        if reason is None and p.get("state") != "CHECKED":
            out.append(("WITHDRAWN", p, WITHDRAWN_REASON, []))
            continue
        if reason is None and failed and precheck_binds:  # with the institution's own signed reply, its check is the one that counts
            reason = "接收检测不合格 / failed the receiving check"
        out.append(("RETURNED" if reason is not None else "ACCEPTED", p, reason, failed))
    return out


REASON_CHARS = (10, 1300)  # a return's reason, on both sides (issue 21): long enough to tell the window what to fix, short enough for the list


def refused(packages: list[dict[str, Any]], returns: dict[str, str], receiver: str | None = None) -> list[str]:
    """Why a decision cannot be taken as given (empty: it can): a named receiver, every returned package in the
    batch, each with a reason of 4–1,300 characters (a blank one would be signed as the institution's word).
    Chinese first: the console shows these to the receiver as they are, and the CLI prints them."""
    known = {p["package_id"] for p in packages}
    problems = [f"{pid} 不在本批次中 / is not in this batch" for pid in sorted(set(returns) - known)]
    low, high = REASON_CHARS
    problems += [f"退回 {pid} 的理由有 {len(r.strip())} 个字，须为 {low}–{high} 个字 / "
                 f"the reason for returning {pid} has {len(r.strip())} characters; it needs {low}–{high}"
                 for pid, r in sorted(returns.items()) if not low <= len((r or "").strip()) <= high]
    if receiver is not None and not receiver.strip():
        problems.append("未填写接收人 / the receiver (接收人) is blank")
    return problems


def receipt(batch: dict[str, Any], packages: list[dict[str, Any]], receiver: str) -> dict[str, Any]:
    """The receipt the institution signs: the transfer list and the recorded outcome of every package (F11)."""
    return {**transfer_list(batch, packages), "receiver": receiver, "decided_at": batch.get("decided_at"),
            "status": batch.get("status"),
            "decisions": {p["package_id"]: _decision_text(p) for p in packages},
            "outcomes": [_outcome(p) for p in packages]}


def _outcome(p: dict[str, Any]) -> dict[str, Any]:
    """One package's decision in a reply's own shape (domain.final reads receipts and replies alike)."""
    check = p.get("receipt") or {}
    return {"package_id": p["package_id"], "outcome": p.get("state"),
            **({"reason": p["return_reason"]} if p.get("return_reason") and p.get("state") != "ACCEPTED" else {}),
            "failed_tests": [str(f["id"]) for f in check.get("failed") or []],
            **({"manual_tests": [str(t) for t in check["manual"]]} if isinstance(check.get("manual"), list) else {}),
            "checked_at": check.get("checked_at")}


def _decision_text(p: dict[str, Any]) -> str:
    if p.get("state") == "ACCEPTED":
        return "接收"
    if p.get("state") == "WITHDRAWN":
        return f"未接收：{p.get('return_reason', WITHDRAWN_REASON)}"
    return f"退回：{p.get('return_reason', '')}"


def outcome(decided: list[tuple[str, dict[str, Any], str | None, list[str]]]) -> tuple[str, int, int, int]:
    """(batch status, accepted, returned, withdrawn) after the decisions: ACCEPTED only when every package was."""
    returned = sum(1 for d in decided if d[0] == "RETURNED")
    withdrawn = sum(1 for d in decided if d[0] == "WITHDRAWN")
    accepted = len(decided) - returned - withdrawn
    status = "ACCEPTED" if accepted == len(decided) else "RETURNED" if accepted == 0 else "PARTLY_RETURNED"
    return status, accepted, returned, withdrawn


def table_a1_rows(batch: dict[str, Any], packages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of Table A.1 as the window signs them: one per service item (办理事项), in a stable order.

    检测意见 is the institution's: it fills it in before it signs (:func:`earchive.domain.final.final_list`).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in packages:
        groups.setdefault((p.get("task_name", ""), p.get("task_type", "")), []).append(p)
    rows = []
    for n, ((task_name, task_type), items) in enumerate(sorted(groups.items()), 1):
        opinion = OPINION_PENDING  # the institution's to write, as it signs (domain.final, crypto.pdf_form): never guessed here
        returned = [i for i in items if i.get("state") == "RETURNED"]
        withdrawn = [i for i in items if i.get("state") == "WITHDRAWN"]
        note = "；".join(f"{label} {len(group)} 件：" + "、".join(i["record_code"] for i in group)
                        for label, group in (("退回", returned), ("未接收（移出本批次）", withdrawn)) if group)
        if batch.get("resubmits") and not note:
            note = f"补交（原批次 {batch['resubmits']}）"
        rows.append({"序号": n, "批次编号": batch["batch_id"], "办理事项名称": task_name, "事项类型": task_type,
                     "归档信息包数量": len(items), "检测意见": opinion, "备注": note})
    return rows


def transfer_list(batch: dict[str, Any], packages: list[dict[str, Any]]) -> dict[str, Any]:
    """The transfer list document both parties sign (canonical JSON of this)."""
    return {
        "title": "政务服务电子档案移交清单",
        "batch_id": batch["batch_id"], "institution": batch["institution"], "institution_name": batch["institution_name"],
        "transferor": batch["transferor"], "transfer_date": beijing_date(str(batch.get("submitted_at") or batch["created_at"])),
        "resubmits": batch.get("resubmits"),
        **({"reviewer": batch["reviewer"]} if batch.get("reviewer") else {}),  # 审核人, when one countersigned before submit
        "rows": table_a1_rows(batch, packages),
        "packages": [{"record_code": p["record_code"], "project_id": p["project_id"], "task_name": p["task_name"],
                      "digest": {"algorithm": "SM3", "value": p["package_sm3"]}, "sha256": p["package_sha256"],
                      "size": int(p.get("size", 0)), "version": int(p.get("package_version", 1)),
                      "key": (p.get("transfer_copy") or {}).get("key"), **_catalogue_facts(p)} for p in packages],
    }


def _catalogue_facts(p: dict[str, Any]) -> dict[str, Any]:
    """What the batch's 归档目录清单 states of a listed version (seed §6.7–6.8), signed with the list: it travels with the packages."""
    facts: dict[str, Any] = {"task_type": p.get("task_type", "")}
    for key in ("retention_period", "archived_at"):
        if p.get(key):
            facts[key] = str(p[key])
    if p.get("total_number") is not None:
        facts["total_number"] = int(p["total_number"])
    if isinstance(p.get("check_summary"), dict):  # the archiving check: failed and manual tests (domain.wording)
        facts["archiving_check"] = {"failed": sorted(map(str, p["check_summary"].get("failed") or [])),
                                    "manual": sorted(map(str, p["check_summary"].get("manual") or []))}
    return facts


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes both parties sign (and the only ones :func:`earchive.domain.strict_json.loads` accepts back)."""
    from .strict_json import canonical as encode

    return encode(document)


__all__ = ["DECIDED", "TABLE_A1", "Selection", "beijing_date", "canonical", "decisions", "outcome", "receipt", "refused", "table_a1_rows",
           "transfer_list"]
