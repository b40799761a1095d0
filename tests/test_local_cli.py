"""`earchive local up` (moto server on 127.0.0.1), `earchive status`, and the cloud demo."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import boto3
import pytest

from earchive.cli import main
from earchive.sample import sample_case, zip_case


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def restore_env():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_local_up_accepts_a_case_from_any_s3_client(tmp_path, restore_env, capsys):
    from earchive.localcloud import serve, state_file

    port = free_port()
    stop = threading.Event()
    t = threading.Thread(target=serve, args=("127.0.0.1", port, 0.2, stop), daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not state_file().exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    info = json.loads(state_file().read_text("utf-8"))
    try:
        s3 = boto3.client("s3", endpoint_url=info["endpoint"], region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        case = sample_case(tmp_path / "c", seed=301)
        bundle = zip_case(case.folder, tmp_path / "case.zip")
        s3.upload_file(str(bundle), info["resources"]["IntakeBucket"], "case.zip")  # as `aws s3 cp` would
        from earchive.localcloud import catalogue_rows

        status = None
        while time.monotonic() < deadline + 120:
            rows = catalogue_rows()
            status = next((r["status"] for r in rows if r.get("project_id") == case.project_id), None)
            if status in ("ARCHIVED", "REJECTED"):
                break
            time.sleep(0.3)
        assert status == "ARCHIVED"
        capsys.readouterr()
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "ARCHIVED: 1" in out and case.project_id in out
    finally:
        stop.set()
        t.join(timeout=30)
    assert not state_file().exists()


def test_status_without_a_cloud_says_so(tmp_path, capsys, restore_env):
    from earchive.localcloud import state_file

    state_file().unlink(missing_ok=True)
    assert main(["status"]) == 1
    assert "earchive local up" in capsys.readouterr().err


def test_cloud_demo_archives_the_good_and_rejects_the_bad(tmp_path, capsys, restore_env):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--cases", "4"]) == 0
    out = capsys.readouterr().out
    assert "3 archived under Object Lock, 1 rejected" in out
    assert "MATERIAL-DIGEST" in out
    demo = tmp_path / "demo"
    assert len(list((demo / "packages").glob("*.zip"))) == 3
    assert list((demo / "rejections").glob("*.rejected.json"))
    assert (demo / "catalogue.csv").read_text("utf-8-sig").count("ARCHIVED") == 3
    assert list((demo / "reports").glob("*.html"))
