"""``earchive transfer …``: the window's and the institution's commands for transfer batches (移交清单, 接收检测, 接收/退回)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .domain.wording import receipt_word
from .zh import BATCH_STATUS, PACKAGE_STATE, label


def _service(args: argparse.Namespace):
    """The transfer client for the running local cloud, or for `--stack` on AWS."""
    from .client import TransferService

    return TransferService.for_stack(args.stack)


def _print_batch(view: dict) -> None:
    b = view["batch"]
    print(f"批次 {b['batch_id']}  状态 {label(BATCH_STATUS, b['status'])} {b['status']}  接收单位 {b['institution_name']} ({b['institution']})  "
          f"移交人 {b['transferor']}  接收人 {b.get('receiver') or '—'}" + (f"  补交自 {b['resubmits']}" if b.get("resubmits") else ""))
    print("序号  办理事项名称                      事项类型        数量  检测意见              备注")
    for r in view["rows"]:
        print(f"{r['序号']:<4}  {r['办理事项名称']:<28}  {r['事项类型']:<12}  {r['归档信息包数量']:>4}  {r['检测意见']:<18}  {r['备注']}")
    for p in view["packages"]:
        receipt = p.get("receipt") or {}
        failed = "; ".join(f"{f['id']} {f['detail'][:80]}" for f in receipt.get("failed", []))
        verdict = "—" if not receipt else receipt_word(receipt)
        print(f"  {p['record_code']}  v{int(p.get('package_version', 1))}  {label(PACKAGE_STATE, p.get('state')):<10} 接收检测 {verdict}"
              + (f"  {failed}" if failed else "") + (f"  退回：{p['return_reason']}" if p.get("return_reason") else ""))


def cmd_transfer(args: argparse.Namespace) -> int:
    """`earchive transfer …`: create, submit, show, decide, resubmit and export transfer batches."""
    from .domain.transfer import Selection
    from .errors import TransferError, UsageError

    try:
        svc = _service(args)
        if args.transfer_command == "create":
            sel = Selection(args.archived_from, args.archived_to, args.task_code, args.task_type, tuple(args.package or ()))
            batch = svc.create(sel, institution=args.institution, institution_name=args.institution_name, transferor=args.transferor)
            print(f"created batch {batch['batch_id']} (DRAFT) with {int(batch['package_count'])} package(s)", file=sys.stderr)
            print(batch["batch_id"])
        elif args.transfer_command == "submit":
            arn = svc.submit(args.batch, actor=args.transferor)
            print(f"已申请移交 submitted: the window signed the list; the transfer runs ({arn.rsplit(':', 1)[-1]})", file=sys.stderr)
            if args.wait:
                svc.wait_for_decision(args.batch, timeout=args.timeout, progress=_checks_progress)
                _print_batch(svc.show(args.batch))
        elif args.transfer_command in ("show", "receive"):
            if args.transfer_command == "receive" and args.wait:
                svc.wait_for_decision(args.batch, timeout=args.timeout, progress=_checks_progress)
            view = svc.show(args.batch)
            if args.json:
                print(json.dumps(view, ensure_ascii=False, indent=2, default=str))
            elif getattr(args, "ids", False):
                print("\n".join(p["package_id"] for p in view["packages"]))
            else:
                _print_batch(view)
        elif args.transfer_command == "accept":
            batch = svc.decide(args.batch, receiver=args.receiver, returns={})
            _print_decided(batch)
        elif args.transfer_command == "return":
            if len(args.package) != len(args.reason):
                print("give one --reason per --package", file=sys.stderr)
                return 2
            batch = svc.decide(args.batch, receiver=args.receiver, returns=dict(zip(args.package, args.reason)))
            _print_decided(batch)
        elif args.transfer_command == "take-reply":
            _print_decided(svc.take_reply(args.batch, actor=args.actor))
        elif args.transfer_command in ("cancel", "discard"):
            batch = (svc.cancel if args.transfer_command == "cancel" else svc.discard)(args.batch, actor=args.actor)
            print(f"batch {args.batch}: {batch['status']}" + (" (submit it again, or discard it)" if batch["status"] == "DRAFT"
                                                             else " (its packages can join another batch)"))
        elif args.transfer_command == "resubmit":
            batch = svc.resubmit(args.batch, transferor=args.transferor, ready_only=args.ready_only)
            print(f"created batch {batch['batch_id']} (DRAFT), resubmitting {args.batch}", file=sys.stderr)
            print(batch["batch_id"])
        elif args.transfer_command == "download":
            paths = svc.download(args.batch, Path(args.out))
            print(f"{len(paths)} files of batch {args.batch} in {args.out}", file=sys.stderr)
            print(args.out)
        elif args.transfer_command == "export":
            for path in svc.export(args.batch, Path(args.out)):
                print(path)
        elif args.transfer_command == "list":
            for b in svc.transfers.batches():
                print(f"{b['batch_id']}  {label(BATCH_STATUS, b['status'])} {b['status']:<16} {int(b.get('package_count', 0)):>5} 件  "
                      f"{b['institution_name']}")
    except UsageError as exc:  # a batch id that does not exist
        print(f"移交 transfer: {exc}", file=sys.stderr)
        return 2
    except (TransferError, TimeoutError) as exc:
        print(f"移交 transfer: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_decided(batch: dict) -> None:
    print(f"批次 {batch['batch_id']}：{label(BATCH_STATUS, batch['status'])} {batch['status']}（接收 {int(batch['accepted_count'])} 件，"
          f"退回 {int(batch['returned_count'])} 件，未接收 {int(batch.get('withdrawn_count', 0))} 件）")


def _checks_progress(checked: int, total: int) -> None:
    """接收检测 progress while `submit --wait` / `receive --wait` wait for the receiving checks."""
    print(f"  接收检测 receiving checks: {checked}/{total}", file=sys.stderr, flush=True)


def add_transfer_parser(sub: Any) -> None:
    """The ``transfer`` command and its subcommands."""
    s = sub.add_parser("transfer", help="transfer batches to the receiving institution (移交清单, 接收检测, 接收/退回)")
    s.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    tsub = s.add_subparsers(dest="transfer_command", required=True)
    t = tsub.add_parser("create", help="a DRAFT batch of archived packages (by date range, service item, category, or ids)")
    t.add_argument("--institution", required=True, help="receiving institution code, registered with its scope (受理范围); "
                                                       "only packages within that scope join the batch")
    t.add_argument("--institution-name", help="optional: the name is the registry's (`earchive institution show CODE`); "
                                                "a different one is refused")
    t.add_argument("--transferor", required=True, help="移交人")
    t.add_argument("--from", dest="archived_from", help="archived on or after (YYYY-MM-DD)")
    t.add_argument("--to", dest="archived_to", help="archived on or before (YYYY-MM-DD)")
    t.add_argument("--task-code", help="事项编码")
    t.add_argument("--task-type", choices=["行政权力事项", "公共服务事项"])
    t.add_argument("--package", action="append", help="电子文件号 (repeat)")
    for name, helptext in (("submit", "sign the list and start the transfer state machine"), ("show", "the batch, its Table A.1 rows and packages"),
                           ("receive", "the receiving-check results the institution decides on"),
                           ("accept", "development shortcut: accept without the institution (a development key signs)"),
                           ("return", "development shortcut: return packages with reasons without the institution"),
                           ("resubmit", "a new batch with the corrected versions"),
                           ("export", "移交清单 XLSX/PDF, signatures, 归档目录清单 XLSX/CSV"),
                           ("download", "the institution's copy of the batch (list, signatures, packages), for verify-batch"),
                           ("take-reply", "verify the institution's signed reply and apply it (refused replies change nothing)"),
                           ("cancel", "a stuck or failed batch back to DRAFT (its run stopped)"),
                           ("discard", "give up a DRAFT batch; its packages can join another")):
        t = tsub.add_parser(name, help=helptext)
        t.add_argument("batch", help="批次编号")
        if name in ("submit", "resubmit"):
            t.add_argument("--transferor", required=True, help="移交人")
        if name == "resubmit":
            t.add_argument("--ready-only", action="store_true", help="send the packages already re-archived, the rest later")
        if name in ("cancel", "discard", "take-reply"):
            t.add_argument("--actor", required=True, help="who does it (logged)")
        if name in ("accept", "return"):
            t.add_argument("--receiver", required=True, help="接收人")
        if name == "return":
            t.add_argument("--package", action="append", required=True, help="电子文件号 to return (repeat)")
            t.add_argument("--reason", action="append", required=True, help="退回原因, one per --package")
        if name in ("submit", "receive"):
            t.add_argument("--wait", action="store_true", help="wait until every package is checked")
            t.add_argument("--timeout", type=float, default=1800)
        if name in ("show", "receive"):
            t.add_argument("--json", action="store_true")
            t.add_argument("--ids", action="store_true", help="only the packages' 电子文件号, one per line")
        if name in ("export", "download"):
            t.add_argument("--out", required=True)
    tsub.add_parser("list", help="all batches")
    for t in tsub.choices.values():  # `transfer list --stack X` works as well as `transfer --stack X list` (P6)
        t.add_argument("--stack", default=argparse.SUPPRESS, help="a deployed stack on AWS (default: the running local cloud)")
    s.set_defaults(func=cmd_transfer)
