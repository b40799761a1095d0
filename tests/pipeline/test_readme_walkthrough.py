"""The README is a script a newcomer can follow (issue 9): its marked blocks run as written, in order.

The blocks after ``<!-- readme-test: run -->`` are joined into one bash script and run in an empty
folder holding only a link to the checkout's ``.venv``, with a fresh ``EARCHIVE_HOME``, no AWS
credentials, and the local cloud on a free port. Only the port differs from what a newcomer types.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: the local cloud, the real ASL, every command of the walk-through

ROOT = Path(__file__).resolve().parents[2]
MARK = "<!-- readme-test: run -->"


def runnable_blocks(text: str) -> list[str]:
    return re.findall(re.escape(MARK) + r"\s*```bash\n(.*?)```", text, flags=re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_readme_has_a_walk_through_to_run():
    blocks = runnable_blocks((ROOT / "README.md").read_text("utf-8"))
    assert len(blocks) >= 5, "the walk-through's blocks are marked"
    joined = "\n".join(blocks)
    for step in ("local up --detach", "upload", "receive init", "institution add", "transfer create", "receive reply", "take-reply",
                 "transfer resubmit", "verify-batch", "local down"):
        assert step in joined


@pytest.mark.parametrize("partition", ["aws", "aws-cn"])  # aws-cn: `local up` makes a China stack (EARCHIVE_PARTITION, issue 22)
def test_the_readme_walk_through_runs_as_written(tmp_path, partition):
    script = "set -euo pipefail\n" + "\n".join(runnable_blocks((ROOT / "README.md").read_text("utf-8")))
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EARCHIVE_", "VIRTUAL_ENV"))}
    env.update(EARCHIVE_HOME=str(home), EARCHIVE_LOCAL_PORT=str(free_port()), EARCHIVE_CONSOLE_PORT=str(free_port()), HOME=str(tmp_path),
               EARCHIVE_PARTITION=partition)
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)  # `source .venv/bin/activate` must do it
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    finally:
        state = home / "local-cloud.json"
        if state.exists():  # the script failed before `local down`: stop what it started
            import json

            os.kill(int(json.loads(state.read_text("utf-8"))["pid"]), signal.SIGTERM)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "已归档 ARCHIVED" in out and "MATERIAL-SIZE" in out and "rejected, as it should be" in out
    assert "上传 case-" in out, "status names the upload a collect-stage rejection came from (P9)"
    assert "第 2 版" in out, "the corrected case is archived as version 2"
    assert "ACCEPTED" in out and "0 被改动" in out
    assert out.count("CMS Verification successful") == 2, "the archive's list and the institution's own reply verify with openssl"
    assert "PARTLY_RETURNED" in out or "RETURNED" in out
    assert "Traceback" not in out
    assert (tmp_path / "lists").is_dir() and list((tmp_path / "lists").glob("移交清单-*.pdf"))
    assert not (home / "local-cloud.json").exists(), "`earchive local down` stopped it"
    banner = "中国区 AWS China: aws-cn, cn-north-1" if partition == "aws-cn" else "global: aws, us-east-1"
    assert banner in out, "the local cloud says which partition it runs as"
