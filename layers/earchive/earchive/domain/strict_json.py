"""Signed JSON read strictly: one byte string, one meaning, for every reader (issue 21).

A signature covers bytes; a reader acts on what it parses them to. Duplicate keys ("outcome" twice:
RETURNED to one parser, ACCEPTED to another), UTF-16, a byte-order mark, or a 200,000-deep nesting
(a RecursionError, not a verdict) would let the same signed bytes mean two things or crash the
window. So a signed document is accepted only when it is UTF-8, within a size and depth bound,
has unique keys, and its bytes are exactly the canonical encoding of what they parse to — the
encoding earchive itself signs (:func:`earchive.domain.transfer.canonical`). Pure.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # a reply or list is 4 levels deep; this leaves room and stays far from the interpreter's recursion limit


def canonical(document: Any) -> bytes:
    """The one encoding earchive signs: UTF-8, keys sorted, no spaces, non-ASCII as itself."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


SAFE_INT = 2**53  # beyond it a JavaScript or orjson reader holds another number than Python does


def _int(text: str) -> int:
    value = int(text)
    if abs(value) > SAFE_INT:
        raise ValueError(f"the integer {text[:30]} is beyond ±2^53: another reader would read another number")
    return value


def depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (counted without recursion, so no input can exhaust the stack)."""
    deepest = level = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def loads(body: bytes, *, max_bytes: int, what: str = "the document") -> Any:
    """``body`` parsed, or :class:`ValueError` saying in Chinese and English why it is not one canonical signed JSON document."""
    if len(body) > max_bytes:
        raise ValueError(f"{what} 超过 {max_bytes} 字节 / is {len(body)} bytes, over {max_bytes}")
    try:
        text = body.decode("utf-8")  # strict: UTF-16, Latin-1 or a broken sequence is refused here
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} 不是 UTF-8 编码 / is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise ValueError(f"{what} 以字节顺序标记开头 / starts with a byte-order mark")
    if depth(text) > MAX_DEPTH:
        raise ValueError(f"{what} 嵌套超过 {MAX_DEPTH} 层 / is nested deeper than {MAX_DEPTH} levels")
    try:
        document = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant, parse_int=_int)
    except ValueError as exc:
        raise ValueError(f"{what} 不是合法的 JSON / is not JSON: {exc}") from None
    if canonical(document) != body:
        raise ValueError(f"{what} 不是规范编码（键排序、无空格、UTF-8）/ is not in the canonical encoding earchive signs")
    return document


__all__ = ["MAX_DEPTH", "canonical", "depth", "loads"]
