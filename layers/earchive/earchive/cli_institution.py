"""`earchive institution add|scope|show|list|revoke|add-cert`: the receiving institutions (政务服务实施机构) a deployment serves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .domain.institution import Scope
from .zh import beijing

STATUS_ZH = {"ACTIVE": "有效", "REVOKED": "已撤销"}


def _service(args: argparse.Namespace):
    from .client import TransferService

    return TransferService.for_stack(args.stack)


def _show(item: dict[str, Any]) -> None:
    print(f"{item['code']}  {item['name']}  {STATUS_ZH.get(item['status'], item['status'])} {item['status']}"
          + (f"（{beijing(item.get('revoked_at'))} 撤销：{item.get('revoke_reason', '')}）" if item.get("revoked_at") else ""))
    for c in item.get("certificates", []):
        print(f"  签名证书 {c['sha256'][:16]}…  {c.get('key') or ''}  {c['subject']}  有效期 {beijing(c['not_before'])} — {beijing(c['not_after'])}"
              + (f"  签发者（证书所载，根证书未核验）{c['issuer']}" if c.get("issuer") else ""))
    scope = Scope.of(item)
    print(f"  受理范围 {scope.describe()}" if scope else
          f"  受理范围 未登记：不能向其移交，先运行 earchive institution scope {item['code']} --region 行政区划代码 --actor 姓名")
    for p in item.get("principals", []):
        print(f"  可拉取 principal {p}")


def _scope(args: argparse.Namespace) -> Scope | None:
    """The scope given on the command line (None when no option names one, as on `add` without scope)."""
    if not any((args.region, args.hall, args.task_code, args.task_type)):
        return None
    return Scope.parse(regions=args.region, halls=args.hall, task_codes=args.task_code, task_types=args.task_type)


def cmd_institution(args: argparse.Namespace) -> int:
    """Register, show, list and revoke institutions; each change goes to the event log (stream institution#CODE)."""
    svc = _service(args)
    registry = svc.aws.institutions
    if args.institution_command == "add":
        scope = _scope(args)
        item = registry.add(args.code, args.name, certificates=[Path(c).read_bytes() for c in args.cert or []],
                            principals=list(args.principal or []), actor=args.actor, access=svc.access_points() if args.principal else None,
                            scope=scope, chain=Path(args.chain).read_bytes() if args.chain else None)
        _show(item)
        if item.get("access_point"):
            print(f"  its access point (the institution's --bucket): {item['access_point']}")
    elif args.institution_command == "scope":
        scope = _scope(args)
        if scope is None:
            print("接收单位 institution: 请给出受理范围：--region 行政区划代码 和/或 --hall 行政区划#全宗号（可加 --task-code、--task-type）",
                  file=sys.stderr)
            return 2
        _show(registry.set_scope(args.code, scope, actor=args.actor))
    elif args.institution_command == "add-cert":
        _show(registry.add_certificate(args.code, Path(args.cert).read_bytes(), actor=args.actor,
                                       chain=Path(args.chain).read_bytes() if args.chain else None))
    elif args.institution_command == "show":
        item = registry.require(args.code)
        if args.json:
            print(json.dumps(item, ensure_ascii=False, indent=2, default=str))
        else:
            _show(item)
    elif args.institution_command == "revoke":
        _show(registry.revoke(args.code, reason=args.reason, actor=args.actor, access=svc.access_points()))
    elif args.institution_command == "list":
        items = registry.all()
        for item in items:
            print(f"{item['code']:<16} {STATUS_ZH.get(item['status'], item['status'])} {item['status']:<8} "
                  f"{len(item.get('certificates', []))} 证书  {item['name']}")
        print(f"{len(items)} 个接收单位 institutions")
    return 0


def add_institution_parser(sub: Any) -> None:
    s = sub.add_parser("institution", help="the receiving institutions (政务服务实施机构): add, scope, show, list, revoke")
    isub = s.add_subparsers(dest="institution_command", required=True)
    a = isub.add_parser("add", help="register an institution: its code (the transfer bucket prefix), name, reply-signing certificates")
    a.add_argument("code", help="机构代码: letters and digits, e.g. 430102001")
    a.add_argument("--name", required=True, help="政务服务实施机构名称")
    a.add_argument("--cert", action="append", help="a PEM certificate it signs replies with, ECDSA, RSA or SM2 (repeat)")
    a.add_argument("--principal", action="append", help="an AWS principal ARN allowed to pull its batches (repeat)")
    sc = isub.add_parser("scope", help="record or change what it receives (受理范围); the change is in the event log")
    sc.add_argument("code")
    for t in (a, sc):
        t.add_argument("--region", action="append", help="行政区划代码 it receives (repeat); 430100 covers all of 长沙市")
        t.add_argument("--hall", action="append", help="a window's hall it receives, 行政区划#全宗号 e.g. 430102#0102 (repeat)")
        t.add_argument("--task-code", action="append", help="only these 事项编码 (repeat)")
        t.add_argument("--task-type", action="append", choices=["行政权力事项", "公共服务事项"], help="only this 事项类型 (repeat)")
    c = isub.add_parser("add-cert", help="register a further (renewed) reply-signing certificate")
    c.add_argument("code")
    c.add_argument("--cert", required=True)
    for t in (a, c):
        t.add_argument("--chain", help="its CA's certificate chain (PEM; a 国密 SM2 CA's too): checked to issue it, kept beside it")
    sh = isub.add_parser("show", help="one institution")
    sh.add_argument("code")
    sh.add_argument("--json", action="store_true")
    r = isub.add_parser("revoke", help="no reply of it is accepted from now on")
    r.add_argument("code")
    r.add_argument("--reason", required=True)
    isub.add_parser("list", help="every institution")
    for t in isub.choices.values():
        t.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
        if t.prog.split()[-1] in ("add", "add-cert", "revoke", "scope"):
            t.add_argument("--actor", required=True, help="who does it (logged)")
    s.set_defaults(func=cmd_institution)
