"""Operator commands: verify the event log against its locked heads, migrate an older deployment's catalogue."""

from __future__ import annotations

import argparse
from typing import Any


def _service(args: argparse.Namespace):
    from .client import TransferService

    return TransferService.for_stack(args.stack)


def cmd_log_verify(args: argparse.Namespace) -> int:
    """`earchive log verify`: every event stream's hash chain against the heads locked in the archive bucket (F19)."""
    from .client import verify_event_log

    results = verify_event_log(_service(args), args.stream)
    broken = {k: v for k, v in results.items() if v and not v[0].startswith("no locked head")}
    open_ = [k for k, v in results.items() if v and k not in broken]
    for name, problems in results.items():
        mark = "被改动 TAMPERED" if name in broken else ("未锁定 unanchored" if name in open_ else "完好 intact")
        print(f"{mark:<18} {name}")
        for p in problems if name in broken else []:
            print(f"    {p}")
    print(f"{len(results)} 个事件流: {len(results) - len(broken) - len(open_)} 完好, {len(broken)} 被改动, "
          f"{len(open_)} 未锁定 (in progress, or older than anchoring)")
    # --strict: every upload and batch stream must be anchored (institution changes are in the log, not anchored)
    return 1 if broken or (args.strict and any(not k.startswith("institution#") for k in open_)) else 0


def cmd_migrate_serials(args: argparse.Namespace) -> int:
    """`earchive migrate serials`: reserve every serial an older deployment issued, so the counter never hands it out again."""
    result = _service(args).aws.catalogue.backfill_serials()
    print(f"serials reserved now: {result['reserved']}; reserved already: {result['already']}")
    for c in result["conflicts"]:
        print(f"冲突 conflict: serial {c['serial']} of {c['prefix']} is held by {c['holder']} and used by {c['project_id']} ({c['package_id']})")
    return 1 if result["conflicts"] else 0


def cmd_migrate_hall_index(args: argparse.Namespace) -> int:
    """`earchive migrate hall-index`: give an older deployment's catalogue items, batches and event streams the keys the console lists them by."""
    aws = _service(args).aws
    if args.default_hall:
        aws.catalogue.default_hall = args.default_hall
    items = aws.catalogue.backfill_hall_index()
    batches = aws.transfers.backfill_halls()
    streams = aws.events.backfill_opened()
    print(f"catalogue items indexed now: {items}; batches given their hall: {batches}; event streams listed for auditors: {streams}")
    return 0


def add_admin_parsers(sub: Any) -> None:
    """The ``log`` and ``migrate`` commands."""
    s = sub.add_parser("log", help="the event log (业务行为日志): verify its hash chains")
    log_sub = s.add_subparsers(dest="log_command", required=True)
    v = log_sub.add_parser("verify", help="every stream's chain against the heads locked in the archive bucket (exit 1 if one was altered)")
    v.add_argument("--stream", action="append", help="only this stream (repeat), e.g. upload#… or batch#202612010001")
    v.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    v.add_argument("--strict", action="store_true", help="a stream with no locked head fails too")
    v.set_defaults(func=cmd_log_verify)

    s = sub.add_parser("migrate", help="bring an older deployment's records up to date (safe to repeat)")
    m_sub = s.add_subparsers(dest="migrate_command", required=True)
    m = m_sub.add_parser("serials", help="reserve (serialno#) every archive serial already issued; exit 1 if two cases share one")
    m.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    m.set_defaults(func=cmd_migrate_serials)
    h = m_sub.add_parser("hall-index", help="list every older catalogue item and batch in its hall's console (index by_hall), and every older event stream "
                                                     "in the auditor's list (by_opened)")
    h.add_argument("--default-hall", help="行政区划#全宗号 for uploads whose case.json names none (default 000000#unknown: auditors only)")
    h.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    h.set_defaults(func=cmd_migrate_hall_index)
