"""Who is calling, and what they may do (issue 11): roles and scopes from the identity token's claims. Pure.

The HTTP API's JWT authorizer has checked the token (issuer, audience, expiry, signature) before a
handler runs; what reaches the handler is its claims, and array claims arrive as one bracketed string
(``"[window_clerk auditor]"``). Both forms are read. Roles come from ``cognito:groups`` (Cognito) or
``groups``/``roles`` (any OIDC issuer); scopes from ``custom:scopes`` or ``earchive_scopes``:
``hall:<行政区划>:<全宗号>`` for window staff, ``institution:<code>`` for a receiver.

Every route names one permission; :func:`authorize` is the only place that decides, so the
authorisation matrix in the tests covers every route × role × scope.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from ..errors import Denied, UsageError

ROLES = ("window_clerk", "window_reviewer", "receiver", "auditor", "admin")
ROLE_ZH = {"window_clerk": "综合受理窗口经办人", "window_reviewer": "审核人", "receiver": "接收单位接收人", "auditor": "审计员", "admin": "系统管理员"}

# permission → the roles that hold it, and what its scope is checked against ("hall", "institution" or None: any)
PERMISSIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "case.read": (("window_clerk", "window_reviewer", "auditor"), "hall"),
    "case.fix": (("window_clerk",), "hall"),          # 信息补录、材料补充, 人工录入
    "batch.read": (("window_clerk", "window_reviewer", "auditor"), "hall"),
    "batch.write": (("window_clerk",), "hall"),       # build, submit, resubmit
    "batch.countersign": (("window_reviewer",), "hall"),
    "inbox.read": (("receiver", "auditor"), "institution"),
    "inbox.reply": (("receiver",), "institution"),    # the signed reply, as `earchive receive reply`
    "log.read": (("auditor",), None),
    "users.admin": (("admin",), None),                # users and roles; no signing rights
    "config.admin": (("admin",), None),               # 归档配置 per 事项 (ADR 0017): every change with its reason
}
SCOPE = re.compile(r"^(hall:\d{6}:[0-9A-Za-z]{1,16}|institution:[0-9A-Za-z]{1,32})$")


@dataclass(frozen=True)
class Principal:
    """A signed-in user: a stable id (for the event log), roles and scopes."""

    user_id: str
    name: str
    roles: frozenset[str]
    scopes: frozenset[str] = field(default_factory=frozenset)

    def halls(self) -> set[tuple[str, str]]:
        return {tuple(s.split(":")[1:3]) for s in self.scopes if s.startswith("hall:")}  # type: ignore[misc]

    def institutions(self) -> set[str]:
        return {s.split(":", 1)[1] for s in self.scopes if s.startswith("institution:")}


def claim_list(value: Any) -> list[str]:
    """A list claim as the authorizer passes it: a real list, ``"[a b]"``, or ``"a,b"`` / ``"a b"``."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part for part in re.split(r"[\s,]+", text) if part]


def principal(claims: dict[str, Any] | None) -> Principal:
    """The caller from the token's claims; :class:`Denied` (401) without a subject."""
    claims = claims or {}
    user_id = str(claims.get("sub") or "").strip()
    if not user_id:
        raise Denied("请先登录 / sign in first", 401)
    roles = {r for key in ("cognito:groups", "groups", "roles") for r in claim_list(claims.get(key))} & set(ROLES)
    scopes = {s for key in ("custom:scopes", "earchive_scopes") for s in claim_list(claims.get(key)) if SCOPE.match(s)}
    name = str(claims.get("name") or claims.get("cognito:username") or claims.get("username") or user_id)
    return Principal(user_id, name, frozenset(roles), frozenset(scopes))


def scope_of(text: str) -> str:
    """``hall:430102:0102`` / ``institution:430102001`` as given, or the short forms ``430102:0102`` and ``430102001``."""
    text = text.strip()
    if not text.startswith(("hall:", "institution:")):
        text = f"hall:{text}" if re.fullmatch(r"\d{6}[:#][0-9A-Za-z]{1,16}", text) else f"institution:{text}"
        text = text.replace("#", ":")
    if not SCOPE.match(text):
        raise UsageError(f"scope {text!r}: 应为 行政区划:全宗号（窗口，如 430102:0102）或 接收单位代码（如 430102001）")
    return text


def check_role_scopes(role: str, scopes: list[str]) -> None:
    """A new user's role and scopes agree: window staff need a hall, a receiver an institution (:class:`UsageError` if not)."""
    if role not in ROLES:
        raise UsageError(f"role {role!r}: 应为 {', '.join(ROLES)} 之一")
    if role in ("window_clerk", "window_reviewer") and not any(s.startswith("hall:") for s in scopes):
        raise UsageError(f"{role} 需要窗口范围 --scope 行政区划:全宗号 (the hall they work for)")
    if role == "receiver" and not any(s.startswith("institution:") for s in scopes):
        raise UsageError("receiver 需要接收单位范围 --scope 接收单位代码 (the institution they receive for)")


def temporary_password() -> str:
    """A first password for a new user (Cognito makes them change it at the first sign-in)."""
    alphabet = string.ascii_letters + string.digits
    return "Ea1-" + "".join(secrets.choice(alphabet) for _ in range(16))


def authorize(who: Principal, permission: str, *, hall: tuple[str, str] | None = None, institution: str | None = None) -> None:
    """Raise :class:`Denied` unless ``who`` holds ``permission`` for this hall (行政区划, 全宗号) or institution.

    A list route passes no hall or institution and filters by :meth:`Principal.halls` / :meth:`Principal.institutions`
    itself; the auditor reads every hall and institution.
    """
    roles, scope = PERMISSIONS[permission]
    if not who.roles & set(roles):
        raise Denied(f"{who.name}：角色 {'、'.join(sorted(who.roles)) or '无'} 不能执行 {permission} / your role may not do this")
    if scope is None or ("auditor" in who.roles and permission.endswith(".read")):
        return
    if scope == "hall" and hall is not None and tuple(hall) not in who.halls():
        raise Denied(f"{who.name}：不在本窗口（{hall[0]} 全宗 {hall[1]}）的范围内 / outside your hall")
    if scope == "institution" and institution is not None and institution not in who.institutions():
        raise Denied(f"{who.name}：不是接收单位 {institution} 的人员 / not of this institution")


__all__ = ["PERMISSIONS", "ROLES", "ROLE_ZH", "Denied", "Principal", "authorize", "check_role_scopes", "claim_list", "principal", "scope_of",
           "temporary_password"]
