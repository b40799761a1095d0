"""`earchive local up|down` (the local cloud) and `earchive upload` (drop a case in, optionally wait for its verdict)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import current


def progress_printer(enabled: bool):
    """``show(label, done, total)`` printing a percentage line at most twice a second, or None."""
    if not enabled:
        return None
    state = {"last": 0.0}

    def show(member: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - state["last"] > 0.5 or done >= total:
            state["last"] = now
            pct = 100 * done / total if total else 100
            print(f"\r  {pct:5.1f}%  {done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {member[-40:]:<40}", end="", file=sys.stderr, flush=True)
            if done >= total:
                print(file=sys.stderr)

    return show


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def cmd_local_up(args: argparse.Namespace) -> int:
    """`earchive local up`: the local cloud behind a moto server on loopback, until Ctrl-C (or `--detach`: in the background)."""
    if args.host not in LOOPBACK:  # told otherwise: say what that exposes (issue 21)
        import sys

        print(f"警告：本地云监听 {args.host}，同一网络中的任何人都能访问其 S3、DynamoDB 和控制台（开发用的密码与密钥）；"
              f"仅在受控的网络中这样做 / warning: the local cloud listens on {args.host}: anyone on the network reaches its S3, "
              "DynamoDB and console (development passwords and keys)", file=sys.stderr)
    if args.detach:
        return _detach(args)
    from earchive_devtools.localcloud import GUOMI_PARAMETERS
    from earchive_devtools.server import serve

    guomi = getattr(args, "guomi", False)
    serve(args.host, args.port, verbose=args.verbose, console_port=args.console_port,
          mode="china" if getattr(args, "china", False) or guomi else "global", parameters=GUOMI_PARAMETERS if guomi else None)
    return 0


def _detach(args: argparse.Namespace) -> int:
    """Start `earchive local up` as a background process, wait until it serves, print its banner; `local down` stops it."""
    from .client import local_state, local_state_file
    from .errors import TransferError

    try:
        info = local_state()
        print(f"a local cloud is running already on {info['endpoint']} (pid {info['pid']}); `earchive local down` stops it")
        return 0
    except TransferError:
        pass
    log = local_state_file().with_name("local-cloud.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "-m", "earchive", *(["-v"] if args.verbose else []), "local", "up",
                                 "--host", args.host, "--port", str(args.port), "--console-port", str(args.console_port),
                                 *(["--china"] if getattr(args, "china", False) else []),
                                 *(["--guomi"] if getattr(args, "guomi", False) else [])],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"error: the local cloud stopped at once (exit {proc.returncode}); its log:\n{log.read_text('utf-8')[-2000:]}",
                  file=sys.stderr)
            return 1
        try:
            if local_state()["pid"] == proc.pid:
                banner = log.read_text("utf-8")
                banner = banner[banner.find("earchive 本地云"):].replace("stop: Ctrl-C", "stop: earchive local down")
                print(banner.strip())
                print(f"  running in the background (pid {proc.pid}, log {log}); `earchive local down` stops it")
                return 0
        except TransferError:
            pass
        time.sleep(0.2)
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    print(f"error: the local cloud did not come up within {args.timeout:.0f}s and was stopped; its log: {log}", file=sys.stderr)
    return 1


def cmd_local_down(args: argparse.Namespace) -> int:
    """`earchive local down`: stop the local cloud `local up --detach` started (its state is gone with it)."""
    import os
    import signal

    from .client import local_state, local_state_file
    from .errors import TransferError

    try:
        info = local_state()
    except TransferError:
        print("no local cloud is running")
        return 0
    os.kill(int(info["pid"]), signal.SIGTERM)  # local_state() checked it is the process that wrote the file, not a reused pid
    deadline = time.monotonic() + 30
    while local_state_file().exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if local_state_file().exists():
        print(f"error: the local cloud (pid {info['pid']}) did not stop within 30 s", file=sys.stderr)
        return 1
    print(f"local cloud on {info['endpoint']} stopped")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    """`earchive upload CASE.zip`: put a case into the intake bucket (progress for large ones); ``--wait`` for its verdict."""
    from .client import TransferService
    from .errors import UsageError

    path = Path(args.bundle)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    key = args.key or path.name
    if not key.endswith(".zip"):  # the intake rule starts the pipeline for *.zip only: anything else would wait forever
        raise UsageError(f"{key}: a case bundle is uploaded as *.zip (lowercase), or nothing archives it")
    svc = TransferService.for_stack(args.stack)
    bucket = svc.names.get("IntakeBucket") or ""
    size = path.stat().st_size
    show = progress_printer(size > 20 * 1024**2 and (sys.stderr.isatty() or args.progress))
    sent = [0]

    def moved(n: int) -> None:
        sent[0] += n
        if show:
            show(f"上传 {key}", sent[0], size)

    version = svc.aws.s3.upload_file(str(path), bucket, key, moved)
    print(f"uploaded s3://{bucket}/{key} (version {version})", file=sys.stderr)
    if not args.wait:
        return 0
    if not version:  # an unversioned bucket: every upload of this key shares one claim, so no verdict is this upload's
        print("error: the intake bucket gave no version id (is versioning on?): cannot tell this upload's verdict", file=sys.stderr)
        return 1
    return _wait_for_verdict(svc, bucket, key, version, args.timeout)


def _wait_for_verdict(svc: Any, bucket: str, key: str, version: str | None, timeout: float) -> int:
    """Poll the upload's claim until the pipeline has finished with it; print the verdict (exit 0 archived, 1 otherwise)."""
    import json

    from .pipeline.archive.common import claim_key
    from .rules_zh import describe

    claim = claim_key({"bucket": bucket, "key": key, "version": version})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = svc.aws.catalogue.get(claim) or {}
        outcome = item.get("outcome") or ("FAILED" if item.get("status") == "FAILED" else None)
        if outcome == "ARCHIVED":
            version = int((svc.aws.catalogue.get(item.get("package", "")) or {}).get("package_version", 1))
            print(f"已归档 ARCHIVED {item.get('package', '')}" + (f"（第 {version} 版，更正后的版本 version {version}）" if version > 1 else ""))
            return 0
        if outcome in ("REJECTED", "FAILED"):
            suffix = "rejected" if outcome == "REJECTED" else "failed"
            body = svc.aws.s3.get_bytes(bucket, f"{key}.{suffix}.json")
            report = json.loads(body) if body else {"problems": []}
            print(f"{'拒收 REJECTED' if outcome == 'REJECTED' else '系统失败 FAILED（可重试）'} {key}："
                  f"通知在上传文件旁 the notice is beside the upload: s3://{bucket}/{key}.{suffix}.html")
            for p in report.get("problems", [])[:10]:
                print(f"  {describe(p)}")
            return 1
        time.sleep(0.3)
    print(f"error: no verdict for {key} within {timeout:.0f}s (`earchive status` shows where it is)", file=sys.stderr)
    return 1


def add_local_parsers(sub: Any) -> None:
    """``local up|down`` and ``upload``."""
    s = sub.add_parser("local", help="the local cloud (moto) on 127.0.0.1")
    local_sub = s.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="serve template.yaml + the real state machines on a moto server; any S3 client can drop cases in")
    up.add_argument("--host", default="127.0.0.1", help="the address to listen on (default loopback only; another one is warned about)")
    up.add_argument("--port", type=int, default=current().local_port, help="default 4566 (EARCHIVE_LOCAL_PORT)")
    up.add_argument("--console-port", type=int, default=current().console_port, help="the console's port, default 8080 (EARCHIVE_CONSOLE_PORT)")
    up.add_argument("--china", action="store_true", default=current().local_partition == "aws-cn",
                    help="run the stack as in the AWS China regions: aws-cn, cn-north-1, no Cognito, X-Ray off (EARCHIVE_PARTITION=aws-cn)")
    up.add_argument("--guomi", action="store_true", help="a 国密 stack (implies --china): SealKeySpec=SM2, CryptoProfile=guomi (ADR 0020)")
    up.add_argument("--detach", action="store_true", help="run in the background; `earchive local down` stops it")
    up.add_argument("--timeout", type=float, default=120, help="with --detach: how long to wait for it to serve")
    up.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log every HTTP request")
    up.set_defaults(func=cmd_local_up)
    down = local_sub.add_parser("down", help="stop the local cloud started with `local up --detach`")
    down.set_defaults(func=cmd_local_down)

    s = sub.add_parser("upload", help="drop a case bundle (zip) into the intake bucket (local cloud, or --stack)")
    s.add_argument("bundle", help="the case zip")
    s.add_argument("--key", help="the object key (default: the file's name)")
    s.add_argument("--wait", action="store_true", help="wait for the verdict: exit 0 archived, 1 rejected or failed")
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("--progress", action="store_true", help="show progress even when stderr is not a terminal")
    s.add_argument("--stack", help="a deployed stack on AWS (default: the running local cloud)")
    s.set_defaults(func=cmd_upload)
