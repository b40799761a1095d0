"""Pure parts of registration and the event log, without AWS."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earchive.domain.eventlog import GENESIS, entry_hash, verify_entries
from earchive.domain.retention import retention_for
from earchive.pipeline.state import stream_id, upload_from_event

ROOT = Path(__file__).resolve().parents[2]


def test_sample_eventbridge_event_names_the_upload():
    event = json.loads((ROOT / "events" / "archive" / "object-created.json").read_text("utf-8"))
    up = upload_from_event(event)
    assert up["bucket"] == "earchive-intake" and up["key"].endswith(".zip") and up["version"]
    assert stream_id(up) == stream_id(dict(up)) and stream_id(up) != stream_id({**up, "version": "other"})


@pytest.mark.parametrize(("period", "year", "until_year", "hold"), [("D10", 2026, 2037, False), ("D30", 2026, 2057, False)])
def test_fixed_term_retention_counts_from_next_january(period, year, until_year, hold):
    r = retention_for(period, year, dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert r.retain_until == dt.datetime(until_year, 1, 1, tzinfo=dt.UTC) and r.legal_hold is hold and r.mode == "COMPLIANCE"


def test_permanent_retention_is_a_legal_hold_and_a_century():
    r = retention_for("Y", 2026, dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert r.legal_hold and r.retain_until.year == 2126


def test_retention_never_in_the_past():
    r = retention_for("D10", 1990, dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert r.retain_until > dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _chain(n: int) -> list[dict]:
    entries, prev = [], GENESIS
    for i in range(1, n + 1):
        e = {"stream": "s", "seq": i, "action": f"step{i}", "result": "ok", "prev_hash": prev}
        e["hash"] = entry_hash(e)
        entries.append(e)
        prev = e["hash"]
    return entries


@given(st.integers(2, 12), st.data())
def test_any_edit_or_removal_breaks_the_chain(n, data):
    entries = _chain(n)
    head = {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}  # what the catalogue records
    assert verify_entries(entries, head) == []
    i = data.draw(st.integers(0, n - 1))
    if data.draw(st.booleans()):
        entries[i] = {**entries[i], "result": "forged"}
    else:
        del entries[i]
    assert verify_entries(entries, head) != []


def test_without_the_anchor_a_cut_tail_goes_unseen():
    """Why the catalogue keeps event_head: the chain alone cannot show truncation at its end."""
    entries = _chain(4)
    head = {"seq": 4, "hash": entries[-1]["hash"]}
    assert verify_entries(entries[:-1]) == []
    assert verify_entries(entries[:-1], head) == ["entry 4 recorded in the catalogue is missing (log truncated)"]


@pytest.mark.parametrize(("region", "fonds", "case_region", "case_fonds", "ok"), [
    ("430000", "", "430102", "0102", True),     # the province takes all its cities and counties
    ("430100", "", "430102", "0102", True),     # Changsha takes Furong district
    ("430100", "", "430203", "0203", False),    # … not Zhuzhou
    ("431000", "", "431002", "0001", True),     # Chenzhou (trailing zero of the city code kept)
    ("430000", "0102,0203", "430102", "0102", True),
    ("430000", "0102,0203", "430302", "0302", False),
    ("", "", "110101", "0001", True),           # nothing configured: anything goes
])
def test_deployment_scope(region, fonds, case_region, case_fonds, ok):
    from earchive.domain.collect import scope_problems

    case = {"region_code": case_region, "fonds_identifier": case_fonds, "project_id": "P1"}
    problems = scope_problems(case, region, fonds)
    assert (not problems) is ok
    assert all(p.rule == "CASE-OUT-OF-SCOPE" and p.case == "P1" for p in problems)


@pytest.mark.parametrize(("period", "year"), [("D10", 2012), ("D10", 1990), ("D30", 1990), ("D10", 2026)])
def test_retention_is_never_shorter_than_the_archives_floor(period, year):
    """F8: an old 办结 year once gave a one-day lock; now the bucket's default (3650 days) is the floor, with a note."""
    now = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    r = retention_for(period, year, now, floor_days=3650)
    assert r.retain_until >= now + dt.timedelta(days=3650)
    counted = dt.datetime(year + 1 + {"D10": 10, "D30": 30}[period], 1, 1, tzinfo=dt.UTC)
    assert r.retain_until == max(counted, now + dt.timedelta(days=3650))
    assert bool(r.note) == (counted < now + dt.timedelta(days=3650))
    if r.note:
        assert "3650" in r.note and str(year + 1) in r.note
