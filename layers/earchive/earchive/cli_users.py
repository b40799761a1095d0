"""`earchive users add|list|disable`: the console's users in the stack's Cognito pool (or the local cloud's).

With another OIDC issuer (OidcIssuer set, and always in the AWS China regions) users, roles and
scopes live in that provider: give its tokens a ``groups`` (or ``roles``) claim and an ``earchive_scopes``
claim instead.
"""

from __future__ import annotations

import argparse
import re
import secrets
import string
from typing import Any

from .console.auth import ROLE_ZH, ROLES, SCOPE
from .errors import UsageError


def scope_of(text: str) -> str:
    """``hall:430102:0102`` / ``institution:430102001`` as given, or the short forms ``430102:0102`` and ``430102001``."""
    text = text.strip()
    if not text.startswith(("hall:", "institution:")):
        text = f"hall:{text}" if re.fullmatch(r"\d{6}[:#][0-9A-Za-z]{1,16}", text) else f"institution:{text}"
        text = text.replace("#", ":")
    if not SCOPE.match(text):
        raise UsageError(f"scope {text!r}: 应为 行政区划:全宗号（窗口，如 430102:0102）或 接收单位代码（如 430102001）")
    return text


def _pool(args: argparse.Namespace) -> tuple[Any, str, bool]:
    from .aws.clients import Aws, stack_outputs
    from .aws.users import Users
    from .client import local_state
    from .config import Settings

    if args.stack:
        outputs = stack_outputs(args.stack)
        if "ConsoleUserPoolId" not in outputs:
            raise UsageError(f"stack {args.stack} signs in with its own OIDC issuer: add users there (see README, 身份)")
        return Users(Aws(Settings()).client("cognito-idp"), outputs["ConsoleUserPoolId"]), outputs.get("ConsoleAddress", ""), False
    info = local_state()
    aws = Aws(Settings(), endpoint=info["endpoint"], local=True)
    return Users(aws.client("cognito-idp"), info["resources"]["ConsoleUserPool"]), info.get("console", ""), True


def cmd_users(args: argparse.Namespace) -> int:
    users, console, local = _pool(args)
    if args.users_command == "add":
        if args.role not in ROLES:
            raise UsageError(f"role {args.role!r}: 应为 {', '.join(ROLES)} 之一")
        scopes = [scope_of(s) for s in args.scope or []]
        if args.role in ("window_clerk", "window_reviewer") and not any(s.startswith("hall:") for s in scopes):
            raise UsageError(f"{args.role} needs --scope 行政区划:全宗号 (the hall they work for)")
        if args.role == "receiver" and not any(s.startswith("institution:") for s in scopes):
            raise UsageError("receiver needs --scope INSTITUTION_CODE (the institution they receive for)")
        password = args.password
        temporary = not password and not local
        if not password:
            from earchive_devtools.gateway import LOCAL_PASSWORD

            password = LOCAL_PASSWORD if local else _temporary()
        user = users.add(args.name, args.role, scopes, password=None if temporary else password, display_name=args.display_name or "",
                         temporary_password=password if temporary else None)
        print(f"{user['name']}  {ROLE_ZH[args.role]} {args.role}  {' '.join(user['scopes']) or '（全部范围）'}  sub={user['sub']}")
        print(f"  {'临时密码（首次登录须修改）temporary password' if temporary else '密码 password'}: {password}"
              + (f"   console: {console}" if console else ""))
    elif args.users_command == "list":
        for u in users.all():
            print(f"{u['name']:<16} {','.join(u['roles']) or '—':<16} {' '.join(u['scopes']) or '—':<28} {'启用' if u['enabled'] else '停用'}")
    elif args.users_command == "disable":
        users.disable(args.name)
        print(f"{args.name}: 已停用 disabled (tokens already issued stay valid until they expire)")
    return 0


def _temporary() -> str:
    alphabet = string.ascii_letters + string.digits
    return "Ea1-" + "".join(secrets.choice(alphabet) for _ in range(16))


def add_users_parser(sub: Any) -> None:
    s = sub.add_parser("users", help="the console's users (the stack's Cognito pool, or the local cloud's): add, list, disable")
    usub = s.add_subparsers(dest="users_command", required=True)
    a = usub.add_parser("add", help="create or update a user with one role and its scopes")
    a.add_argument("name")
    a.add_argument("--role", required=True, help=", ".join(f"{r} ({ROLE_ZH[r]})" for r in ROLES))
    a.add_argument("--scope", action="append", help="430102:0102 (a hall: 行政区划:全宗号) or 430102001 (an institution); repeatable")
    a.add_argument("--display-name", help="the name shown and printed on lists (e.g. 李敏)")
    a.add_argument("--password", help="local: default the local password; AWS: without it a temporary one is made and printed")
    usub.add_parser("list", help="every user, role and scope")
    d = usub.add_parser("disable", help="no more sign-ins for this user")
    d.add_argument("name")
    for t in (a, *[p for p in usub.choices.values() if p is not a]):
        t.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    s.set_defaults(func=cmd_users)
