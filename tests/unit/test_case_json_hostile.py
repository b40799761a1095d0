"""case.json is hostile input too (review F10, F5): duplicate keys, absurd nesting, impossible dates and a process
record that disagrees with the case's own times are refused by rule, never a traceback."""

from __future__ import annotations

import json

import pytest

from earchive.domain.collect import collect
from earchive.domain.organise import organise
from earchive.errors import EarchiveError
from earchive_devtools.sample import sample_case


def rules_of(folder) -> list[str]:
    with pytest.raises(EarchiveError) as caught:
        record, bundle = collect(folder)
        bundle.close()
        organise(record, 1)
    return [p.rule for p in caught.value.problems]


def test_a_repeated_key_is_refused_which_value_counts_is_undefined(tmp_path):
    case = sample_case(tmp_path / "c", seed=41)
    text = (case.folder / "case.json").read_text("utf-8")
    (case.folder / "case.json").write_text(text.replace('"task_name":', '"task_name": "伪造事项", "task_name":', 1), "utf-8")
    with pytest.raises(EarchiveError) as caught:
        collect(case.folder)
    assert caught.value.rule == "CASE-JSON-SYNTAX" and "'task_name' appears twice" in str(caught.value)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_absurd_nesting_is_refused(tmp_path, depth):
    case = sample_case(tmp_path / "c", seed=42)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    text = json.dumps(data, ensure_ascii=False)
    (case.folder / "case.json").write_text(text[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}", "utf-8")
    with pytest.raises(EarchiveError) as caught:
        collect(case.folder)
    assert caught.value.rule == "CASE-JSON-SYNTAX" and "nests" in str(caught.value)


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00+08:00", "2026-13-01T00:00:00", "2026-01-01T24:00:00"])
def test_a_date_the_calendar_does_not_have_is_a_schema_rejection(tmp_path, value):
    case = sample_case(tmp_path / "c", seed=43)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    data["process"][1]["time"] = value
    (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert "CASE-JSON-SCHEMA" in rules_of(case.folder)


def test_the_process_record_must_agree_with_the_cases_own_times(tmp_path):
    case = sample_case(tmp_path / "c", seed=44)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    data["process"][-1]["time"] = "2099-01-01T00:00:00+08:00"  # 办结 step after 办结时间
    (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert rules_of(case.folder) == ["PROCESS-INCOMPLETE"]
