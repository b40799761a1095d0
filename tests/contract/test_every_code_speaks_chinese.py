"""Every rule code the library can raise and every check test has a Chinese explanation (issue 9, P8).

The codes are found statically — every ``Problem(...)``, ``reject(...)`` and SafeZip ``_problem(...)``
in layers/earchive/earchive, the rule prefixes SafeZip is given, the error classes a system failure
carries as its rule, and the check catalogue — so a new rule without Chinese fails CI here, not
in front of a window clerk.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from earchive import errors, rules_zh
from earchive.check.catalogue import CATALOGUE, STAGES

LIB = Path(__file__).resolve().parents[2] / "layers" / "earchive" / "earchive"
CJK = re.compile(r"[\u4e00-\u9fff]")
RAISERS = {"Problem", "reject", "_problem"}  # _problem: SafeZip's, which prefixes its rule (BUNDLE-, PACKAGE-, OFD-)
# the only places a rule is not a literal: they pass a caller's code through
PASS_THROUGH = {("errors.py", "rule"), ("safezip.py", "f'{self._prefix}-{rule}'")}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def raised_codes() -> set[str]:
    """Every rule code a rejection can carry, read from the library's source."""
    literal, suffixes, prefixes, dynamic = set(), set(), set(), []
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.arguments):  # def __init__(…, rule_prefix: str = "BUNDLE")
                named = node.args[len(node.args) - len(node.defaults):] + node.kwonlyargs[len(node.kwonlyargs) - len(node.kw_defaults):]
                for arg, default in zip(named, node.defaults + node.kw_defaults):
                    if arg.arg == "rule_prefix" and isinstance(default, ast.Constant):
                        prefixes.add(default.value)
            if not isinstance(node, ast.Call):
                continue
            prefixes |= {k.value.value for k in node.keywords if k.arg == "rule_prefix" and isinstance(k.value, ast.Constant)}
            name = _name(node.func)
            if name not in RAISERS:
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "rule"), None)
            if isinstance(arg, ast.Constant):
                (suffixes if name == "_problem" else literal).add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[-1], ast.Constant):  # f"{prefix}-LIMIT"
                suffixes.add(arg.values[-1].value.lstrip("-"))
            elif arg is not None and (path.name, ast.unparse(arg)) not in PASS_THROUGH:
                dynamic.append(f"{path.relative_to(LIB)}:{node.lineno}: {ast.unparse(arg)}")
    assert not dynamic, f"rule codes built at run time cannot be checked for Chinese; use a literal: {dynamic}"
    assert prefixes >= {"BUNDLE", "PACKAGE"} and len(literal) > 20, "the scan found too little: has the source moved?"
    return literal | {f"{p}-{s}" for p in prefixes for s in suffixes}


def error_classes() -> set[str]:
    """The classes of earchive.errors: a system failure names one of them (or a Python error) as its rule."""
    return {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.BaseError)}


@pytest.mark.parametrize("code", sorted(raised_codes() | set(errors.RULES) | error_classes() | {"DuplicateDelivery"}))
def test_every_rule_has_chinese_and_advice(code):
    assert code in rules_zh.RULES, f"{code} has no entry in earchive/rules_zh.py RULES: add its Chinese explanation and advice"
    zh, advice, kind = rules_zh.RULES[code]
    assert CJK.search(zh) and CJK.search(advice), code
    assert kind in (rules_zh.FIX, rules_zh.ARCHIVED, rules_zh.WAIT, rules_zh.CONTACT, rules_zh.SYSTEM), code
    assert rules_zh.rule_text(code) == (zh, advice)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_check_test_has_chinese(code):
    assert CJK.search(rules_zh.TESTS.get(code, "")), f"check test {code} has no Chinese explanation in earchive/rules_zh.py TESTS"
    for prefix in STAGES.values():
        test_id = f"{prefix}-{code}"
        assert rules_zh.test_name(test_id) == CATALOGUE[code][0]
        for status in ("pass", "fail", "manual", "not_applicable"):
            text = rules_zh.test_text(test_id, status)
            assert CJK.search(text) and "未登记" not in text, (test_id, status, text)
        zh, advice = rules_zh.rule_text(test_id)  # a failed check is a rejection's rule
        assert CATALOGUE[code][0] in zh and CJK.search(advice)


def test_a_duplicate_upload_is_never_told_to_fix_it():
    for code, (_, advice, kind) in rules_zh.RULES.items():
        if kind in (rules_zh.ARCHIVED, rules_zh.WAIT):
            assert "修正" not in advice and "重新上传整个办件包" not in advice, code


@pytest.mark.parametrize("code", [None, "", "RuntimeError", "Runtime.ExitError", "NEW-RULE-NOBODY-EXPLAINED", "GD-9-9", "XX-1-1", 42])
def test_an_unknown_code_gets_a_fallback_that_names_it(code):
    zh, advice = rules_zh.rule_text(code)
    assert CJK.search(zh) and CJK.search(advice)
    if code:
        assert str(code) in zh
    assert CJK.search(rules_zh.test_text(str(code), "fail")) and CJK.search(rules_zh.describe({"rule": code, "file": None}))
