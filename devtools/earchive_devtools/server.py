"""`earchive local up` (the local cloud behind a moto server on loopback) and `earchive status` (its catalogue)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from earchive.client import process_start

from .localcloud import LocalCloud


def state_file() -> Path:
    from earchive.client import local_state_file

    return local_state_file()


BUCKETS = (("IntakeBucket", "上传办件 intake: drop finished case bundles (*.zip) here"),
           ("ArchiveBucket", "档案库 archive: packages under Object Lock COMPLIANCE, locked event-log heads"),
           ("ReportsBucket", "检测报告 reports: every check report (JSON and HTML)"),
           ("TransferBucket", "移交 transfer: institutions/<code>/batches/<batch>/ (lists, packages, receipts)"),
           ("StagingBucket", "暂存 staging: work in progress, removed when a case is stored"))


def serve(host: str = "127.0.0.1", port: int = 4566, poll: float = 0.5, stop: threading.Event | None = None,
          verbose: bool = False, suffix: str = "local", console_port: int = 8080, mode: str = "global",
          parameters: dict[str, str] | None = None) -> None:
    """Run the local cloud behind a moto server until ``stop`` is set (Ctrl-C or SIGTERM); quiet unless ``verbose``.

    ``mode="china"``: the stack as in the AWS China regions (aws-cn, cn-north-1, no Cognito, X-Ray off)."""
    import logging
    import signal
    import socket

    if not verbose:  # one line per HTTP request (thousands for one upload) only with -v
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for p, option in ((port, "--port / EARCHIVE_LOCAL_PORT"), (console_port, "--console-port / EARCHIVE_CONSOLE_PORT")):
        with socket.socket() as probe:  # moto's server waits forever on a port it cannot bind: say so and stop
            try:
                probe.bind((host, p))
            except OSError as exc:
                raise OSError(f"cannot serve on {host}:{p}: {exc.strerror} (another `earchive local up`? "
                              f"`earchive local down` stops it, or use {option})") from None
    stop = stop or threading.Event()
    server, endpoint = start_moto_server(host, port)
    cloud = LocalCloud(endpoint=endpoint, suffix=suffix, mode=mode, parameters=parameters)  # earchive-intakebucket-local, …: the same on every run
    cloud.resolver.params["ConsoleUrl"] = f"http://{host}:{console_port}/"  # the console's origin: the staging bucket's CORS names it
    cloud.start()
    from .gateway import Gateway, seed_users

    gateway = Gateway(cloud, host, console_port).start()
    users = seed_users(gateway)
    info = {"endpoint": endpoint, "console": gateway.url, "state_machine": cloud.state_machine_arn, "queue": cloud.queue_url,
            "resources": dict(cloud.resolver.names), "pid": os.getpid(),
            "mode": mode, "partition": cloud.partition, "region": cloud.region, "pid_start": process_start(os.getpid())}
    if threading.current_thread() is threading.main_thread():  # serving now: `kill PID` stops it as cleanly as Ctrl-C
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    state_file().parent.mkdir(parents=True, exist_ok=True)
    part = state_file().with_name(state_file().name + ".part")  # whole or absent: a reader polling for it never reads it half-written
    part.write_text(json.dumps(info, indent=2), "utf-8")
    part.replace(state_file())
    where = "中国区 AWS China: aws-cn, cn-north-1, no Cognito, X-Ray off" if mode == "china" else "global: aws, us-east-1"
    lines = [f"earchive 本地云 local cloud: {endpoint}  (template.yaml + the real state machines on moto; {where})"]
    lines += [f"  {cloud.name(logical):<40} {what}" for logical, what in BUCKETS]
    lines += [f"  credentials: any (e.g. export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={cloud.region})",
              f"  drop a case: aws s3 cp CASE.zip s3://{cloud.name('IntakeBucket')}/ --endpoint-url {endpoint}",
              "  watch:       earchive status        transfer: earchive transfer create …        stop: Ctrl-C",
              f"  state file:  {state_file()}" + ("" if verbose else "   (-v: every HTTP request)"),
              f"控制台 console: {gateway.url}   (pages and /api; tokens checked as API Gateway's JWT authorizer does)",
              *([f"  登录 sign-in: {gateway.issuer} (OidcIssuer; no Cognito in China, no password form here)"] if not users else []),
              *[f"  {u['name']:<10} {u['password']}  {','.join(u['roles']):<16} {' '.join(u['scopes']) or '（全部范围 all）'}" for u in users],
              "  more users:  earchive users add NAME --role ROLE --scope 430102:0102"]
    print("\n".join(lines), file=sys.stderr, flush=True)
    started: set[str] = set()
    try:
        while not stop.is_set():
            for arn in cloud.dispatch():
                name = arn.rsplit(":", 1)[-1]
                if name not in started:  # one line per upload (a multipart upload may notify twice)
                    started.add(name)
                    print(f"归档开始 started {name}", file=sys.stderr, flush=True)
            for arn in cloud.dispatch(machine="ReplyStateMachine"):  # an institution's reply: the window verifies it by itself
                print(f"回执核验 verifying reply {arn.rsplit(':', 1)[-1]}", file=sys.stderr, flush=True)
            stop.wait(poll)
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
        server.stop()  # the port first: `local down && local up` finds it free
        state_file().unlink(missing_ok=True)


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> tuple[Any, str]:
    """A moto server on loopback that runs the state machines (port 0: any free one); returns it and its endpoint."""
    import socket
    import urllib.request

    from moto.server import ThreadedMotoServer

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions interpreter calls back to this port
    server = ThreadedMotoServer(ip_address=host, port=port)
    server.start()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - our own loopback server
        f"{endpoint}/moto-api/config", data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(), method="POST"))
    return server, endpoint


def catalogue_rows(endpoint: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
    """Catalogue items of the running local cloud (or of ``table`` on AWS): earchive.client.catalogue_rows."""
    from earchive.client import catalogue_rows as rows

    return rows(endpoint, table)
