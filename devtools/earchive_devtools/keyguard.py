"""The key policies' denies on the calls that lose a key, enforced on the local cloud (ADR 0018).

moto keeps a key's policy and evaluates none of it (it only honours a Deny of kms:DescribeKey, without conditions), so
a key policy that failed to protect DataKey would pass every test. KMS evaluates the key policy on every call and an
explicit Deny wins (https://docs.aws.amazon.com/kms/latest/developerguide/policy-evaluation.html); the condition
operators follow IAM (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
a negated operator (ArnNotEquals, StringNotEquals) is true when the key is absent from the request, and so is
``ForAllValues:`` (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).

Enforced here, in one place, for ScheduleKeyDeletion, DisableKey and PutKeyPolicy: the caller's ``aws:PrincipalArn``
is the role of an assumed-role session, an IAM user's ARN, or moto's default user (never the root user); a direct call
carries no ``aws:CalledVia``. A condition operator this module does not know fails loudly instead of being ignored.
The stack's own key policies are put in place as CloudFormation would, at provisioning (:func:`apply_key_policies`).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

GUARDED = ("ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy")
_INSTALLED: list[bool] = []


def _values(v: Any) -> list[str]:
    return [str(x) for x in (v if isinstance(v, list) else [v])]


def condition_holds(condition: dict[str, Any], context: dict[str, list[str]]) -> bool:
    """Every operator and key of a statement's Condition holds for the request ``context`` (key -> values)."""
    for op, block in condition.items():
        for key, wanted in block.items():
            have, want = context.get(key), _values(wanted)
            if op in ("ArnEquals", "ArnLike", "StringEquals", "StringLike"):
                ok = have is not None and any(fnmatch.fnmatchcase(h, w) for h in have for w in want)
            elif op in ("ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike"):
                ok = have is None or not any(fnmatch.fnmatchcase(h, w) for h in have for w in want)
            elif op == "ForAllValues:StringNotEquals":
                ok = have is None or all(h not in want for h in have)
            elif op == "ForAnyValue:StringEquals":
                ok = have is not None and any(h in want for h in have)
            else:
                raise NotImplementedError(f"the local cloud does not evaluate condition operator {op} (keyguard.condition_holds)")
            if not ok:
                return False
    return True


def denied(policy: dict[str, Any], action: str, context: dict[str, list[str]]) -> str | None:
    """The Sid of the Deny statement of ``policy`` that refuses ``action`` in ``context``, or None."""
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Deny" or not any(fnmatch.fnmatchcase(action, a) for a in _values(st.get("Action", []))):
            continue
        if condition_holds(st.get("Condition", {}), context):
            return str(st.get("Sid", "a Deny statement"))
    return None


def caller_arn(response: Any) -> str:
    """aws:PrincipalArn of the request moto is answering: an assumed role's role, an IAM user, or moto's default user."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    access_key, account = response.get_access_key(), response.current_account
    for backends in (sts_backends[account],):
        for backend in backends.values():
            role = backend.get_assumed_role_from_access_key(access_key)
            if role:
                return role.role_arn
    for backend in iam_backends[account].values():
        user = backend.get_user_from_access_key_id(access_key)
        if user:
            return user.arn
    return f"arn:aws:iam::{account}:user/moto"


def install() -> None:
    """Patch moto's KMS responses once: the three calls that can lose a key answer AccessDenied as the key policy says."""
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    from moto.kms.exceptions import AccessDeniedException
    from moto.kms.responses import KmsResponse

    def guarded(name: str, fn: Any) -> Any:
        def wrapped(self: Any) -> str:
            backend = self.kms_backend
            key = backend.keys.get(backend.get_key_id(self._get_param("KeyId") or ""))
            if key is not None:
                try:
                    policy = json.loads(key.policy)
                except (TypeError, ValueError):
                    policy = {}
                sid = denied(policy, f"kms:{name}", {"aws:PrincipalArn": [caller_arn(self)]})
                if sid:
                    raise AccessDeniedException(f"User: {caller_arn(self)} is not authorized to perform: kms:{name} on resource: "
                                                f"{key.arn} with an explicit deny in a resource-based policy ({sid})")
            return fn(self)
        return wrapped

    for name in GUARDED:
        attr = {"ScheduleKeyDeletion": "schedule_key_deletion", "DisableKey": "disable_key", "PutKeyPolicy": "put_key_policy"}[name]
        setattr(KmsResponse, attr, guarded(name, getattr(KmsResponse, attr)))


def apply_key_policies(template: dict[str, Any], resolver: Any, kms: Any) -> None:
    """Each AWS::KMS::Key's resolved KeyPolicy on the key the local cloud made, as CloudFormation sets it at creation
    (the key's first policy is moto's default, with no Deny, so this call is allowed)."""
    for logical, res in template["Resources"].items():
        if res["Type"] == "AWS::KMS::Key" and logical in resolver.names:
            kms.put_key_policy(KeyId=resolver.names[logical], PolicyName="default", Policy=json.dumps(resolver.value(res["Properties"]["KeyPolicy"])))
