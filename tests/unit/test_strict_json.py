"""Signed JSON, one meaning (issue 21): earchive accepts exactly the canonical UTF-8 documents, and what it accepts a strict outside
parser (orjson, Rust) reads the same; duplicate keys, UTF-16, a byte-order mark, deep nesting or another spelling are refused."""

from __future__ import annotations

import datetime as dt
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earchive.domain import reply as replies
from earchive.domain import strict_json

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | TEXT,
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


def earchive_accepts(body: bytes) -> bool:
    try:
        strict_json.loads(body, max_bytes=1 << 20)
        return True
    except ValueError:
        return False


def outside_reads(body: bytes):
    """orjson's reading (strict UTF-8, no NaN, no BOM, depth ≤ 1024); None when it refuses."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_the_canonical_encoding_is_accepted_and_means_what_orjson_reads(value):
    body = strict_json.canonical(value)
    assert strict_json.loads(body, max_bytes=1 << 20) == outside_reads(body) == value


@settings(max_examples=400, deadline=None)
@given(VALUES, st.integers(0, 10_000), st.sampled_from(["insert-space", "flip-byte", "drop-byte", "utf16", "bom", "indent", "dup"]))
def test_whatever_earchive_accepts_the_outside_parser_reads_the_same_and_nothing_else_is_accepted(value, at, how):
    body = strict_json.canonical(value)
    pos = at % (len(body) + 1)
    variant = {"insert-space": body[:pos] + b" " + body[pos:], "flip-byte": body[:pos] + bytes([(body[pos:pos + 1] or b"\0")[0] ^ 0x20]) + body[pos + 1:],
               "drop-byte": body[:pos] + body[pos + 1:], "utf16": json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-16"),
               "bom": b"\xef\xbb\xbf" + body, "indent": json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1).encode(),
               "dup": body[:-1] + b',"k":1,"k":2}' if body.startswith(b"{") and len(body) > 2 else body + b" "}[how]
    if earchive_accepts(variant):
        assert variant == body or strict_json.canonical(outside_reads(variant)) == variant, "accepted: orjson reads the very same document"
        assert strict_json.loads(variant, max_bytes=1 << 20) == outside_reads(variant)
    else:
        assert variant != body


@pytest.mark.parametrize("body,why", [
    (b'{"outcome":"RETURNED","outcome":"ACCEPTED"}', "twice"),
    ('{"a":"接收"}'.encode("utf-16"), "UTF-8"),
    (b'\xef\xbb\xbf{"a":1}', "byte-order mark"),
    (b"[" * 200_000 + b"]" * 200_000, "nested"),
    (b'{"a":NaN}', "JSON"),
    (b'{"b":1,"a":2}', "canonical"),
    (b'{"a": 1}', "canonical"),
])
def test_hostile_signed_json_is_refused_by_name_never_a_crash(body, why):
    with pytest.raises(ValueError, match=why):
        strict_json.loads(body, max_bytes=1 << 22)


def test_a_hostile_reply_is_a_verdict_not_a_crash():
    """The 200,000-deep reply that crashed the reply machine (RecursionError) is refused by rule; so are the two readings of a duplicate."""
    deep = b"[" * 200_000 + b"]" * 200_000
    problems = replies.problems(deep, signer=None, signature_errors=[], institution=None, listing={"batch_id": "B", "institution": "I", "packages": []},
                                list_sha256="", used_reply_ids=set(), at=dt.datetime.now(dt.UTC))
    assert problems and "nested deeper" in problems[0]
    twice = b'{"packages":[{"outcome":"RETURNED","outcome":"ACCEPTED","package_id":"X"}]}'
    problems = replies.problems(twice, signer=None, signature_errors=[], institution=None, listing={"batch_id": "B", "institution": "I", "packages": []},
                                list_sha256="", used_reply_ids=set(), at=dt.datetime.now(dt.UTC))
    assert problems and "appears twice" in problems[0]
