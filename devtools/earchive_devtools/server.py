"""`earchive local up` (the local cloud behind a moto server on loopback) and `earchive status` (its catalogue)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from .localcloud import LocalCloud


def state_file() -> Path:
    from earchive.client import local_state_file

    return local_state_file()


def serve(host: str = "127.0.0.1", port: int = 4566, poll: float = 0.5, stop: threading.Event | None = None) -> None:
    """Run the local cloud behind a moto server until ``stop`` is set (or Ctrl-C)."""
    from moto.server import ThreadedMotoServer

    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions interpreter calls back to this port
    server = ThreadedMotoServer(ip_address=host, port=port)
    server.start()
    endpoint = f"http://{host}:{port}"
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - our own loopback server
        f"{endpoint}/moto-api/config", data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(), method="POST"))
    cloud = LocalCloud(endpoint=endpoint)
    cloud.start()
    info = {"endpoint": endpoint, "state_machine": cloud.state_machine_arn, "queue": cloud.queue_url,
            "resources": dict(cloud.resolver.names), "pid": os.getpid()}
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text(json.dumps(info, indent=2), "utf-8")
    print(f"earchive local cloud on {endpoint}\n  intake bucket: {cloud.name('IntakeBucket')}\n"
          f"  drop a case:   aws s3 cp CASE.zip s3://{cloud.name('IntakeBucket')}/ --endpoint-url {endpoint}\n"
          f"  watch:         earchive status\n(Ctrl-C to stop)", file=sys.stderr, flush=True)
    stop = stop or threading.Event()
    try:
        while not stop.is_set():
            for arn in cloud.dispatch():
                print(f"started {arn.rsplit(':', 1)[-1]}", file=sys.stderr, flush=True)
            stop.wait(poll)
    except KeyboardInterrupt:
        pass
    finally:
        state_file().unlink(missing_ok=True)
        server.stop()


def catalogue_rows(endpoint: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
    """Catalogue items of the running local cloud (or of ``table`` on AWS): earchive.client.catalogue_rows."""
    from earchive.client import catalogue_rows as rows

    return rows(endpoint, table)
