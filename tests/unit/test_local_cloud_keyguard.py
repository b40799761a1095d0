"""The local cloud's evaluation of the key policies' denies (earchive_devtools.keyguard), on the template's own policies.

Without a break-glass role only the root user may delete, disable or re-policy a key; a stack update (a call through
CloudFormation) may rewrite the policy but never delete or disable; an operator the module cannot evaluate fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from earchive_devtools.keyguard import condition_holds, denied
from earchive_devtools.template import Resolver, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
ROOT_USER = "arn:aws:iam::123456789012:root"
ADMIN = "arn:aws:iam::123456789012:role/Admin"


@pytest.mark.parametrize("key", ["DataKey", "SealKey", "ListSigningKey"])
def test_without_a_break_glass_role_only_root_may_and_a_stack_update_may_only_rewrite_the_policy(key):
    policy = Resolver(TEMPLATE).value(TEMPLATE["Resources"][key]["Properties"]["KeyPolicy"])
    for action in ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"):
        assert denied(policy, action, {"aws:PrincipalArn": [ADMIN]}), action
        assert not denied(policy, action, {"aws:PrincipalArn": [ROOT_USER]}), action
    via_stack = {"aws:PrincipalArn": [ADMIN], "aws:CalledVia": ["cloudformation.amazonaws.com"]}
    assert not denied(policy, "kms:PutKeyPolicy", via_stack)
    assert denied(policy, "kms:ScheduleKeyDeletion", via_stack) and denied(policy, "kms:DisableKey", via_stack)
    assert not denied(policy, "kms:Sign", {"aws:PrincipalArn": [ADMIN]})  # everyday use is not this module's business


def test_with_a_break_glass_role_root_is_refused_too():
    r = Resolver(TEMPLATE)
    r.params["BreakGlassRoleArn"] = "arn:aws:iam::123456789012:role/earchive-break-glass"
    policy = r.value(TEMPLATE["Resources"]["DataKey"]["Properties"]["KeyPolicy"])
    assert denied(policy, "kms:DisableKey", {"aws:PrincipalArn": [ROOT_USER]})
    assert not denied(policy, "kms:DisableKey", {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/earchive-break-glass"]})


def test_an_operator_it_cannot_evaluate_fails_loudly():
    with pytest.raises(NotImplementedError):
        condition_holds({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}, {})
