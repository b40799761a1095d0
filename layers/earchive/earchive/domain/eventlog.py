"""The append-only event log: every step, who, what, when, result — chained by digest.

Each entry carries the SHA-256 of the previous entry of its stream (one
stream per upload), so editing or deleting an entry breaks the chain and
:func:`verify` says where. Appends are conditional writes on the next
sequence number, so two writers can never fork a stream.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64
# The auditor's list of streams (index ``by_opened``): on a stream's first entry only, derived from its stream and
# time, outside the hash so an older deployment's entries can be given them (`earchive migrate hall-index`).
INDEX_KEYS = ("opened", "opened_sk")
KINDS = {"upload": "办件上传（归档流程）", "batch": "移交批次", "user": "用户操作", "institution": "接收单位"}


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash is over: sorted keys, no whitespace, UTF-8, no 'hash' (nor the list's index keys)."""
    skip = {"hash", *(INDEX_KEYS if _derived_index(entry) else ())}
    body = {k: (int(v) if isinstance(v, Decimal) else v) for k, v in entry.items() if k not in skip}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def _derived_index(entry: dict[str, Any]) -> bool:
    """The list's keys are left out of the hash only where they are what they must be: on a first entry, computed from it.
    Moved, added elsewhere or altered, they are hashed like any field, and the chain shows the edit."""
    if not any(k in entry for k in INDEX_KEYS):
        return False
    try:
        return int(entry.get("seq", 0)) == 1 and {k: entry.get(k) for k in INDEX_KEYS} == opened_keys(str(entry["stream"]), str(entry["at"]))
    except (KeyError, ValueError):
        return False


def opened_keys(stream: str, at: str) -> dict[str, str]:
    """The index keys of a stream's first entry: its kind and Beijing calendar day, then its time and name (newest first)."""
    import datetime as dt

    when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    day = when.astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    return {"opened": f"{stream.split('#', 1)[0]}#{day}", "opened_sk": f"{at}#{stream}"}


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def verify_entries(entries: list[dict[str, Any]], head: dict[str, Any] | None = None) -> list[str]:
    """Problems in a stream's entries (in sequence order); empty means intact.

    The chain alone cannot show that its last entries were cut off; ``head``
    (``{"seq", "hash"}`` recorded in the catalogue when the package was stored
    or rejected) anchors it.
    """
    problems = []
    prev = GENESIS
    for expected_seq, entry in enumerate(entries, 1):
        seq = int(entry.get("seq", 0))
        if seq != expected_seq:
            problems.append(f"entry {expected_seq}: sequence {seq} (an entry is missing)")
        if entry.get("prev_hash") != prev:
            problems.append(f"entry {seq}: prev_hash does not match entry {seq - 1} (chain broken)")
        if entry_hash(entry) != entry.get("hash"):
            problems.append(f"entry {seq}: content does not match its hash (edited)")
        prev = entry.get("hash", "")
    if head is not None:
        anchored = next((e for e in entries if int(e.get("seq", 0)) == int(head["seq"])), None)
        if anchored is None:
            problems.append(f"entry {int(head['seq'])} recorded in the catalogue is missing (log truncated)")
        elif anchored.get("hash") != head["hash"]:
            problems.append(f"entry {int(head['seq'])} differs from the hash recorded in the catalogue")
    return problems
