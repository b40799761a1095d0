"""What a signed document may say about a check: one function decides the words, every document uses it.

A test's result is ``pass``, ``fail``, ``manual`` or ``not_applicable``. ``manual`` means the software did not
establish the property (no real virus scanner, a file it could not open within its budget): it is never
written as 合格 or 通过. The 登记表's 检验 rows, the institution's stamp, Table A.1's 检测意见, the check
reports' verdicts and every export (PDF, XLSX, CSV, JSON, HTML) take their words from here (issue 20).

Pure: the inputs are per-package summaries as the catalogue and the signed lists carry them
(:func:`summarise`), never a report object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

PROPERTIES = ("authenticity", "integrity", "usability", "security")
ROW_OF = {"authenticity": "准确性", "integrity": "完整性", "usability": "可用性", "security": "安全性"}  # 登记表 检验 rows
PROPERTY_OF_NUMBER = {"1": "authenticity", "2": "integrity", "3": "usability", "4": "security"}
# What a reader is asked to do by hand, by test number (GD-/YJ- the same): the short form the documents print.
MANUAL_WHAT = {"1-14": "信息包摘要核对", "3-4": "文件可读性", "4-1": "病毒扫描", "4-2": "病毒扫描"}


def property_of(test_id: str) -> str:
    """The property of ``GD-4-1`` / ``YJ-2-9`` / ``4-1`` (its first number)."""
    parts = str(test_id).split("-")
    number = parts[1] if len(parts) > 1 and not parts[0].isdigit() else parts[0]
    return PROPERTY_OF_NUMBER.get(number, "")


def _number(test_id: str) -> str:
    parts = str(test_id).split("-")
    return "-".join(parts[1:] if parts and not parts[0].isdigit() else parts)


def summarise(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One package's check as the lists keep it: its verdict and, per property, the failed and the manual tests.

    ``results``: ``{"id", "status"}`` (a report's results, or a receipt's). The summary is small enough for a
    catalogue item and a signed list of 10,000 packages.
    """
    out: dict[str, Any] = {"failed": [], "manual": []}
    for r in results:
        status = r.get("status")
        if status == "fail":
            out["failed"].append(str(r["id"]))
        elif status == "manual":
            out["manual"].append(str(r["id"]))
    out["passed"] = not out["failed"]
    return out


def report_verdict(failed: int, manual: int) -> str:
    """A check report's verdict: 检测合格 only when nothing failed and nothing was left to a person."""
    if failed:
        return f"检测不合格：{failed} 项不通过" + (f"，{manual} 项须人工核查" if manual else "")
    return f"检测合格（{manual} 项须人工核查）" if manual else "检测合格"


def check_word(failed: int, manual: int | None) -> str:
    """One package's check in a list or a page: 合格 only with nothing failed and nothing left to a person.

    ``manual`` None: recorded before manual tests were kept (no claim either way).
    """
    if failed:
        return f"不合格（{failed} 项不通过）"
    if manual is None:
        return "无不通过项（须人工核查项未记录）"
    return f"合格（{manual} 项须人工核查）" if manual else "合格"


def receipt_word(receipt: Mapping[str, Any] | None) -> str:
    """:func:`check_word` of a receipt as ReceiveCheck records it (``failed`` objects, ``manual`` ids); 未检测 without one."""
    if not receipt:
        return "未检测"
    manual = receipt.get("manual")
    return check_word(len(receipt.get("failed") or []), len(manual) if isinstance(manual, list) else None)


def _manual_words(ids: Iterable[str]) -> str:
    words = dict.fromkeys(MANUAL_WHAT.get(_number(i), "部分检测项") for i in sorted(ids, key=_number))
    return "、".join(words)


def property_text(prop: str, checks: list[Mapping[str, Any]]) -> str:
    """A 登记表 检验 row (准确性/完整性/可用性/安全性) for ``checks`` (one :func:`summarise` per package).

    合格（11 件均通过） only when every package passed every test of the property; a property left to a person
    reads 未自动检测：病毒扫描须人工核查（11 件）; failures are counted. A package never checked passes nothing.
    """
    n = len(checks)
    if not n:
        return "—（无归档信息包）"
    failed = manual = unchecked = unknown = 0
    manual_ids: list[str] = []
    for c in checks:
        if not c or "failed" not in c:
            unchecked += 1
            continue
        if any(property_of(t) == prop for t in c.get("failed") or []):
            failed += 1
            continue
        if c.get("manual") is None:  # recorded before manual tests were kept: nothing failed, but no claim of 合格
            unknown += 1
            continue
        mine = [t for t in c.get("manual") or [] if property_of(t) == prop]
        if mine:
            manual += 1
            manual_ids += mine
    passed = n - failed - manual - unchecked - unknown
    if passed == n:
        return f"合格（{n} 件均通过）"
    parts = []
    if manual == n:
        return f"未自动检测：{_manual_words(manual_ids)}须人工核查（{n} 件）"
    if unknown == n:
        return f"无不通过项（{n} 件；须人工核查项未记录）"
    if passed:
        parts.append(f"合格 {passed} 件")
    if manual:
        parts.append(f"未自动检测：{_manual_words(manual_ids)}须人工核查 {manual} 件")
    if unknown:
        parts.append(f"无不通过项 {unknown} 件（须人工核查项未记录）")
    if failed:
        parts.append(f"不合格 {failed} 件")
    if unchecked:
        parts.append(f"未检测 {unchecked} 件")
    return "；".join(parts)


def register_rows(checks: list[Mapping[str, Any]]) -> dict[str, str]:
    """The four 检验 rows of one unit's column of the 登记表, keyed by their Chinese row name."""
    return {ROW_OF[p]: property_text(p, checks) for p in PROPERTIES}


def opinion(outcomes: list[Mapping[str, Any]], *, reason_chars: int = 24) -> str:
    """Table A.1's 检测意见 of one row (one 办理事项), from the institution's decision on each of its packages.

    ``outcomes``: ``{"outcome": ACCEPTED|RETURNED|WITHDRAWN, "reason", "manual_tests"}``. 合格 only when every
    package was accepted and nothing was left to a person (``manual_tests`` absent: not recorded, so no 合格 either);
    a return names its reason's short form.
    """
    accepted = [o for o in outcomes if o.get("outcome") == "ACCEPTED"]
    returned = [o for o in outcomes if o.get("outcome") == "RETURNED"]
    withdrawn = [o for o in outcomes if o.get("outcome") == "WITHDRAWN"]
    manual = sum(len(o.get("manual_tests") or []) for o in accepted)
    unknown = any(o.get("manual_tests") is None for o in accepted)  # a decision recorded before manual tests were kept
    parts = []
    if accepted:
        word = "检测无不通过项" if unknown else "合格"
        head = word if not (returned or withdrawn) else f"{word} {len(accepted)} 件"
        parts.append(head + ("（须人工核查项未记录）" if unknown else f"（{manual} 项须人工核查）" if manual else ""))
    if returned:
        reasons = dict.fromkeys(short(str(o.get("reason") or ""), reason_chars) for o in returned)
        parts.append(f"退回 {len(returned)} 件：" + "；".join(reasons))
    if withdrawn:
        parts.append(f"未接收 {len(withdrawn)} 件（未完成接收检测）")
    return "；".join(parts) or "—"


def short(text: str, chars: int) -> str:
    """The short form of a reason: its first ``chars`` characters, "…" when cut (the full text is in the signed JSON)."""
    text = " ".join(text.split()).split(" / ")[0]  # "中文 / English": the Chinese is the institution's word
    for lead in ("接收检测不合格：",):
        if text.startswith(lead) and len(text) > chars:
            return "检测不合格：" + text[len(lead):][: max(chars - 6, 4)] + "…"
    return text if len(text) <= chars else text[: chars - 1] + "…"


__all__ = [
    "MANUAL_WHAT",
    "PROPERTIES",
    "ROW_OF",
    "check_word",
    "opinion",
    "property_of",
    "property_text",
    "receipt_word",
    "register_rows",
    "report_verdict",
    "short",
    "summarise",
]
