"""Property tests (hypothesis) where inputs are hostile: names, zips and bytes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from earchive.check import check_package
from earchive.domain.pack import pack
from earchive.domain.safezip import decode_raw_name, safe_relative_path
from earchive.errors import RULES, EarchiveError

NAME_ALPHABET = st.sampled_from(list("ab./\\:*?<>|") + ["..", "申请", "表", "é", "e\u0301", "Ω", "\x00", "\n", " ", "C:", "~"])
names = st.lists(NAME_ALPHABET, min_size=1, max_size=8).map("".join)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(names)
def test_safe_relative_path_never_escapes(name):
    path = safe_relative_path(name)
    if path is not None:
        parts = path.split("/")
        assert not path.startswith("/")
        assert ".." not in parts and "." not in parts and "" not in parts
        assert "\x00" not in path and "\\" not in path and ":" not in path


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=1, max_size=12))
def test_gbk_names_decode_back(text):
    raw = text.encode("gbk")
    try:
        raw.decode("utf-8")
        assume(False)  # GBK bytes that are also valid UTF-8 are ambiguous by nature
    except UnicodeDecodeError:
        pass
    assert decode_raw_name(raw) == text


@SETTINGS
@given(members=st.lists(st.tuples(names, st.binary(max_size=64)), min_size=1, max_size=5))
def test_hostile_bundle_is_rejected_cleanly(tmp_path_factory, signer, tsa, members):
    base = tmp_path_factory.mktemp("hb")
    bundle = base / "bundle.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("case.json", json.dumps({"schema_version": "1.0"}))
        for name, data in members:
            try:
                zf.writestr(name, data)
            except Exception:  # noqa: BLE001 - names zipfile itself cannot write are not our concern
                continue
    out = base / "out"
    before = sorted(p.relative_to(base) for p in base.rglob("*"))
    try:
        pack(bundle, out, signer=signer, tsa=tsa)
        raise AssertionError("an invalid case.json must never pack")
    except EarchiveError as exc:
        assert all(p.rule in RULES for p in exc.problems), exc
    after = sorted(p.relative_to(base) for p in base.rglob("*"))
    assert after == before, "nothing written anywhere, not even the output folder's contents"


def _member_data_ranges(package: Path) -> list[tuple[str, int, int]]:
    ranges = []
    raw = package.read_bytes()
    with zipfile.ZipFile(package) as zf:
        for info in zf.infolist():
            lh = info.header_offset
            n, e = int.from_bytes(raw[lh + 26:lh + 28], "little"), int.from_bytes(raw[lh + 28:lh + 30], "little")
            start = lh + 30 + n + e
            if info.compress_size:
                ranges.append((info.filename, start, start + info.compress_size))
    return ranges


@SETTINGS
@given(data=st.data())
def test_any_content_change_by_a_bit_flip_is_detected(packed, tmp_path_factory, data):
    _, result = packed
    ranges = _member_data_ranges(result.path)
    name, start, end = data.draw(st.sampled_from(ranges))
    offset = data.draw(st.integers(start, end - 1))
    bit = data.draw(st.integers(0, 7))
    target = tmp_path_factory.mktemp("flip") / result.path.name
    raw = bytearray(result.path.read_bytes())
    raw[offset] ^= 1 << bit
    target.write_bytes(bytes(raw))
    report = check_package(target)
    if report.passed:
        # only acceptable when the content did not change: e.g. an unused padding bit of a deflate stream
        with zipfile.ZipFile(result.path) as a, zipfile.ZipFile(target) as b:
            assert a.read(name) == b.read(name), f"flip in {name} at {offset} changed content unnoticed"


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("rb") / "x.zip"
    p.write_bytes(blob)
    report = check_package(p)
    assert not report.passed
