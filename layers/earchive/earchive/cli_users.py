"""`earchive users add|list|disable`: the console's users in the stack's Cognito pool (or the local cloud's).

With another OIDC issuer (OidcIssuer set, and always in the AWS China regions) users, roles and
scopes live in that provider: give its tokens a ``groups`` (or ``roles``) claim and an ``earchive_scopes``
claim instead.
"""

from __future__ import annotations

import argparse
from typing import Any

from .console.auth import ROLE_ZH, ROLES, check_role_scopes, scope_of, temporary_password
from .errors import UsageError


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
        scopes = [scope_of(s) for s in args.scope or []]
        check_role_scopes(args.role, scopes)
        password = args.password
        temporary = not password and not local
        if not password:
            from earchive_devtools.gateway import LOCAL_PASSWORD

            password = LOCAL_PASSWORD if local else temporary_password()
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
