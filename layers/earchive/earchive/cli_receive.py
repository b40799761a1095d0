"""`earchive receive init|pull|check|review|reply|status`: the receiving institution's 接收检测 and reply, on its own machine."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from .domain.wording import check_word


def _transfer_bucket(args: argparse.Namespace) -> tuple[Any, str]:
    """The S3 adapter and the transfer bucket: the running local cloud, or a stack's (with the institution's own credentials)."""
    if args.bucket:  # an institution on AWS: its own credentials (profile), the bucket the archive named for it
        from .aws.clients import Aws
        from .config import Settings

        return Aws(Settings()).s3, args.bucket
    from .client import TransferService

    svc = TransferService.for_stack(args.stack)
    return svc.aws.s3, svc.names["TransferBucket"]


def cmd_receive(args: argparse.Namespace) -> int:
    """The institution's side of a transfer; its key never leaves this machine."""
    from .cli import _check_options, _seal_identity
    from .receive import Desk

    desk = Desk(args.institution)
    if args.receive_command == "init":
        return _init(desk, args)
    if args.receive_command == "pull":
        s3, bucket = _transfer_bucket(args)
        options = _check_options(args)
        listing = desk.pull(s3, bucket, args.batch, trust=options.trust, seal_identity=_seal_identity(args),
                            progress=lambda n, total: print(f"  {n}/{total} 信息包 SM3 verified", file=sys.stderr))
        print(f"batch {args.batch}: the list is signed by the archive; {len(listing['packages'])} package(s) match their SM3 → "
              f"{desk.batch(args.batch)}")
        printed = desk.batch(args.batch) / "transfer-list.pdf"
        if printed.exists():  # the same figure the console's batch page shows: compare before signing there
            print(f"  登记表 SHA-256 {hashlib.sha256(printed.read_bytes()).hexdigest()}（在控制台签署前请核对）")
        return 0
    if args.receive_command == "check":
        checks = desk.check(args.batch, _check_options(args))
        failed = {k: v["failed"] for k, v in checks.items() if not v["passed"]}
        for code, c in checks.items():
            word = check_word(len(c.get("failed") or []), len(c["manual"]) if isinstance(c.get("manual"), list) else None)
            print(f"{'✓' if c['passed'] else '✗'} {word} {code}" + (f"：{', '.join(c['failed'])}" if not c["passed"] else ""))
        print(f"接收检测 batch {args.batch}: {len(checks) - len(failed)}/{len(checks)} passed (reports beside each package)")
        return 0
    if args.receive_command == "review":
        return _review(desk, args)
    if args.receive_command == "status":
        s3, bucket = _transfer_bucket(args)
        _print_status(desk.status(s3, bucket, args.batch), as_json=args.json)
        return 0
    if args.receive_command == "reply":
        if bool(args.accept_all) == bool(args.package):
            print("give --accept-all, or --return PACKAGE with --reason (repeat)", file=sys.stderr)
            return 2
        if len(args.package or []) != len(args.reason or []):
            print("give one --reason per --return", file=sys.stderr)
            return 2
        from .crypto.signers import make_tsa

        s3, bucket = _transfer_bucket(args)
        desk.refuse_if_decided(s3, bucket, args.batch)  # before anything is signed: nothing leaves this PC
        document, body, signature = desk.reply(args.batch, receiver=args.receiver, returns=dict(zip(args.package or [], args.reason or [])),
                                               tsa=make_tsa(args.tsa or "local"))
        key = desk.send(s3, bucket, args.batch, document, body, signature)
        back = [p["package_id"] for p in document["packages"] if p["outcome"] == "RETURNED"]
        print(f"reply {document['reply_id']} signed by {args.institution} and sent: accepted {len(document['packages']) - len(back)}, "
              f"returned {len(back)} → s3://{bucket}/{key}")
        return 0
    return 2


def _init(desk: Any, args: argparse.Namespace) -> int:
    """Make a key (ECDSA, or SM2 with --sm2) with its CSR, import one, or install the certificate the CA issued for it."""
    key, cert, chain = (Path(v) if v else None for v in (args.key, args.cert, args.chain))
    if chain and not cert:
        print("--chain goes with --cert (the CA's certificate for your key)", file=sys.stderr)
        return 2
    if args.sm2 and (key or cert):
        print("--sm2 makes a new key: without --key or --cert (an SM2 key file is imported with --key and --cert)", file=sys.stderr)
        return 2
    path = desk.init(args.name, key=key, cert=cert, sm2=args.sm2, chain=chain, csr=Path(args.csr) if args.csr else None)
    if cert and not key:
        print(f"接收单位 {args.institution}: 证书已安装 / the CA's certificate is installed: {path}", file=sys.stderr)
        print("  请管理员登记此证书（`earchive institution add-cert` 或 `institution add --cert`）/ have the archive register it:",
              file=sys.stderr)
        print(path)
        return 0
    print(f"接收单位 {args.institution}: the reply-signing key is {desk.key_path} (keep it on this machine)", file=sys.stderr)
    if not key:
        kind = "SM2（国密，SM3withSM2）" if args.sm2 else "ECDSA P-256"
        print(f"  {kind} 证书申请 / a certificate request for your CA: {args.csr or desk.folder / 'reply-signer.csr'}; until it is issued, "
              "a development certificate (开发用) stands in; install the CA's answer with "
              f"`earchive receive init --institution {args.institution} --cert CERT.pem [--chain CHAIN.pem]`", file=sys.stderr)
    print(f"  give the archive this certificate to register (`earchive institution add {args.institution} --cert …`):", file=sys.stderr)
    print(path)
    return 0


def _print_status(status: dict[str, Any], *, as_json: bool = False) -> None:
    """`receive status`: the decision, each package's, and every reply sent with what became of it (Chinese first, Beijing time)."""
    import json

    from .domain.decided import outcome_text
    from .zh import beijing

    if as_json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return
    d = status["decision"]
    if d is None:
        print(f"批次 {status['batch_id']}：尚未决定（移交单位尚未收到有效回执）/ not decided yet")
    else:
        print(f"批次 {status['batch_id']}：已决定 {outcome_text(d)}  接收人 {d.get('receiver') or '—'}  决定时间 {beijing(d.get('decided_at'))}"
              f" / decided {d['status']}")
        for p in d["packages"]:
            print(f"  {p['decision_zh']:<4} {p['package_id']}" + (f"  原因：{p['reason']}" if p["reason"] and p["decision"] != "ACCEPTED" else ""))
    for r in status["replies"]:
        if r["refused"]:
            print(f"回执 {r['reply_id']}：被拒收 / refused")
            print(f"  {r['refused']['lead']}")
            for problem in r["refused"]["problems"]:
                print(f"    - {problem}")
            continue
        if not r["in_bucket"]:
            state = "仅在本机，未发送 / not sent"
        elif d is not None and d.get("reply_id") == r["reply_id"]:
            state = "已生效：即本批次的决定 / taken"
        else:
            state = "已发送，待移交单位核验 / sent, not verified yet"
        print(f"回执 {r['reply_id']}：{state}")


def _review(desk: Any, args: argparse.Namespace) -> int:
    """Serve the review page on 127.0.0.1 until the reply is sent (or Ctrl-C)."""
    import time

    from .crypto.signers import make_tsa
    from .receive_review import serve

    if not (desk.batch(args.batch) / "checks.json").exists():
        print(f"batch {args.batch} is not checked yet: `earchive receive check {args.batch} --institution {args.institution} …`", file=sys.stderr)
        return 2
    s3, bucket = _transfer_bucket(args)
    desk.refuse_if_decided(s3, bucket, args.batch)
    done: dict[str, Any] = {}

    def send(receiver: str, returns: dict[str, str]) -> dict[str, Any]:
        document, body, signature = desk.reply(args.batch, receiver=receiver, returns=returns, tsa=make_tsa(args.tsa or "local"))
        key = desk.send(s3, bucket, args.batch, document, body, signature)
        done.update(reply_id=document["reply_id"], key=key, outcomes={p["package_id"]: p["outcome"] for p in document["packages"]})
        return done

    server = serve(desk, args.batch, send, port=args.port)
    print(f"接收审核 review page (this PC only, no internet needed): {server.url}", file=sys.stderr, flush=True)
    try:
        while not done:
            time.sleep(0.3)
        time.sleep(1)  # the confirmation page reaches the browser
    except KeyboardInterrupt:
        print("stopped; no reply was sent", file=sys.stderr)
        return 1
    finally:
        server.shutdown()
    print(f"reply {done['reply_id']} signed by {args.institution} and sent → {done['key']}")
    return 0


def add_receive_parser(sub: Any) -> None:
    from .cli import _identity_options

    s = sub.add_parser("receive", help="the receiving institution's side: init (its own key), pull, check (接收检测), reply (signed)")
    rsub = s.add_subparsers(dest="receive_command", required=True)
    i = rsub.add_parser("init", help="make (or import) the institution's reply-signing key and certificate on this machine")
    i.add_argument("--name", help="政务服务实施机构名称 (to make a key)")
    i.add_argument("--sm2", action="store_true", help="make an SM2 key (国密) and an SM3withSM2 request for a 国密 CA, not ECDSA P-256")
    i.add_argument("--csr", metavar="FILE", help="also write the certificate request (PKCS#10 PEM) to FILE")
    i.add_argument("--key", help="import this PEM key (with --cert) instead of making one (PKCS#8 or SEC1; SM2 keys too)")
    i.add_argument("--cert", help="the certificate your CA issued: with --key, imported with it; alone, installed for the key made here")
    i.add_argument("--chain", help="the CA's certificate chain (PEM), kept after the certificate")
    for name, helptext in (("pull", "download a batch, verifying the archive's signature and each package's SM3"),
                           ("check", "the YJ tests on every pulled package with your own trust anchors"),
                           ("review", "a review page on 127.0.0.1: results, metadata, materials; 接收 or 退回 each package; sign and send"),
                           ("reply", "accept, or return packages with reasons; sign with your key and send"),
                           ("status", "what was decided: each package's decision and reason, the outcome, any refused reply and why")):
        t = rsub.add_parser(name, help=helptext)
        t.add_argument("batch", help="批次编号")
        if name in ("pull", "check"):
            t.add_argument("--trust", action="append", required=True, metavar="CA.pem",
                           help="your own trust anchors for the archive's seal (locally: `earchive dev-ca`)")
            t.add_argument("--scanner", help="builtin (default), clamav, none")
            _identity_options(t)
            t.set_defaults(stage="receiving", package_digest=None, allowed_formats=None)
        if name == "reply":
            t.add_argument("--receiver", required=True, help="接收人")
            t.add_argument("--accept-all", action="store_true")
            t.add_argument("--return", dest="package", action="append", help="电子文件号 to return (repeat)")
            t.add_argument("--reason", action="append", help="退回原因, one per --return")
        if name in ("reply", "review"):
            t.add_argument("--tsa", help="your timestamp authority for the signed list and the reply's signature timestamp: an RFC 3161 URL "
                                         "(default: the development TSA)")
        if name == "status":
            t.add_argument("--json", action="store_true", help="the same as JSON")
        if name == "review":
            t.add_argument("--port", type=int, default=0, help="the local port (default: any free one)")
    for t in rsub.choices.values():
        t.add_argument("--institution", required=True, help="your institution's code (机构代码)")
        t.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
        t.add_argument("--bucket", help="on AWS: the transfer bucket, read with your own credentials (AWS_PROFILE)")
    s.set_defaults(func=cmd_receive)
