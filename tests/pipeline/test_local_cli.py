"""`earchive local up` (moto server on 127.0.0.1), `earchive status`, and the cloud demo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import boto3
import pytest

from earchive.cli import main
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


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


@pytest.fixture
def local_up(restore_env):
    """`earchive local up` on a free loopback port, in a thread; yields (info, s3 client); stops it after."""
    from earchive_devtools.server import serve, state_file

    stop = threading.Event()
    import uuid

    # one process may hold several local clouds (moto's backends are process-wide): names apart
    # a free console port too: 8080 may be held by anything else on the machine (a CI run saw it taken)
    t = threading.Thread(target=serve, args=("127.0.0.1", free_port(), 0.2, stop),
                         kwargs={"suffix": uuid.uuid4().hex[:8], "console_port": free_port()}, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not state_file().exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    info = json.loads(state_file().read_text("utf-8"))
    s3 = boto3.client("s3", endpoint_url=info["endpoint"], region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    yield info, s3
    stop.set()
    t.join(timeout=30)
    assert not state_file().exists(), "local up removes its state file when it stops"


def test_local_up_accepts_a_case_from_any_s3_client(tmp_path, local_up, capsys):
    info, s3 = local_up
    case = sample_case(tmp_path / "c", seed=301)
    bundle = zip_case(case.folder, tmp_path / "case.zip")
    s3.upload_file(str(bundle), info["resources"]["IntakeBucket"], "case.zip")  # as `aws s3 cp` would
    from earchive_devtools.server import catalogue_rows

    status = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
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


def test_status_without_a_cloud_says_so(tmp_path, capsys, restore_env):
    from earchive_devtools.server import state_file

    state_file().unlink(missing_ok=True)
    assert main(["status"]) == 1
    assert "earchive local up" in capsys.readouterr().err
    assert main(["transfer", "list"]) == 1
    assert "earchive local up" in capsys.readouterr().err


def test_cloud_demo_archives_the_good_and_rejects_the_bad(tmp_path, capsys, restore_env):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--cases", "4"]) == 0
    out, err = capsys.readouterr()
    assert "3 archived under Object Lock, 1 rejected" in out
    assert "MATERIAL-DIGEST" in out
    demo = tmp_path / "demo"
    current = sorted(p for p in (demo / "packages").glob("*.zip") if ".v" not in p.name)
    returned = sorted((demo / "packages").glob("*.v1-returned.zip"))
    assert len(current) == 3 and len(returned) == 1, "the accepted version of the corrected case, its returned v1 beside it (P12)"
    items = {i["package_id"]: i for i in json.loads((demo / "catalogue.json").read_text("utf-8"))}
    code = returned[0].name.removesuffix(".v1-returned.zip")
    import hashlib

    assert hashlib.sha256((demo / "packages" / f"{code}.zip").read_bytes()).hexdigest() == items[code]["package_sha256"]
    assert items[code]["status"] == "ACCEPTED" and int(items[code]["package_version"]) == 2
    assert len([p for p in (demo / "reports").glob(f"{code}_*.json")]) == 2, "a check report for each version"
    assert list((demo / "rejections").glob("*.rejected.json")) and list((demo / "rejections").glob("*.rejected.html"))
    finals = sorted((demo / "transfer").glob("*/transfer-list.signed.pdf"))
    assert len(finals) == 2, "each batch's printed list carries the window's certification and the institution's approval"
    shown = subprocess.run(["pdfsig", str(finals[-1])], capture_output=True, text=True, timeout=60).stdout
    assert shown.count("Signature is Valid.") == 2 and "SenderSig" in shown and "ReceiverSig" in shown, shown
    assert "packages/" in (demo / "README.txt").read_text("utf-8"), "an index says what each file is"
    catalogue = (demo / "catalogue.csv").read_text("utf-8-sig")
    assert catalogue.count(",ACCEPTED,") == 3, "after the transfer loop every archived package is accepted"
    assert catalogue.count(",RETURNED,") == 1, "the returned version 1 is kept beside its accepted version 2"
    assert list((demo / "reports").glob("*.html"))
    assert "PARTLY_RETURNED" in out and "ACCEPTED — both parties signed" in out
    assert "signed by 430103001 was refused, changing nothing" in err, "a forged reply changes nothing"
    assert (demo / "institutions" / "430102001" / "reply-signer.key.pem").exists(), "the institution's key stayed on its side"
    batches = sorted((demo / "transfer").iterdir())
    assert len(batches) == 2
    assert {p.suffix for p in batches[1].iterdir()} >= {".xlsx", ".pdf", ".p7s", ".csv"}
    # again, into the same folder: cleaned (and said so), the same right verdicts (issue 9: re-runnable)
    capsys.readouterr()
    assert main(["demo", "--out", str(demo), "--cases", "2"]) == 0
    again = capsys.readouterr()
    assert "cleaned" in again.err and "1 archived under Object Lock, 1 rejected" in again.out
    assert len(sorted((demo / "transfer").iterdir())) == 2, "nothing of the first run is left"


def test_transfer_loop_through_the_cli(tmp_path, local_up, capsys):
    """The window and the institution use only the CLI, against `earchive local up`."""
    from earchive_devtools.server import catalogue_rows

    info, s3 = local_up
    intake = info["resources"]["IntakeBucket"]

    def wait_archived(n: int) -> list[dict]:
        end = time.monotonic() + 180
        while time.monotonic() < end:
            rows = [r for r in catalogue_rows() if r.get("status") == "ARCHIVED"]
            if len(rows) >= n:
                return rows
            time.sleep(0.3)
        raise AssertionError(f"fewer than {n} archived: {[(r['package_id'], r.get('status')) for r in catalogue_rows()]}")

    def cli(*argv: str) -> str:
        capsys.readouterr()
        code = main(list(argv))
        out = capsys.readouterr()
        assert code == 0, out.err[-2000:]
        return out.out.strip().splitlines()[-1] if out.out.strip() else ""

    cases = [sample_case(tmp_path / "c", seed=s) for s in (501, 502)]
    for case in cases:
        s3.upload_file(str(zip_case(case.folder, tmp_path / f"{case.project_id}.zip")), intake, f"{case.project_id}.zip")
    archived = wait_archived(2)
    cli("institution", "add", "430102001", "--name", "芙蓉区行政审批服务局", "--region", "430000", "--actor", "管理员")  # the province
    batch = cli("transfer", "create", "--institution", "430102001", "--institution-name", "芙蓉区行政审批服务局", "--transferor", "李敏")
    assert len(batch) == 12
    cli("transfer", "submit", batch, "--transferor", "李敏", "--wait", "--timeout", "180")
    capsys.readouterr()
    assert main(["transfer", "receive", batch, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["batch"]["status"] == "RECEIVING" and all(p["receipt"]["passed"] for p in view["packages"])
    back = archived[0]["package_id"]
    cli("transfer", "return", batch, "--receiver", "王芳", "--package", back, "--reason", "申请表扫描件模糊请重新扫描")
    capsys.readouterr()
    assert main(["transfer", "show", batch]) == 0
    shown = capsys.readouterr().out
    assert "PARTLY_RETURNED" in shown and "退回：申请表扫描件模糊请重新扫描" in shown
    # the same bundle again is no correction (P6): refused by rule, saying what to do
    case = next(c for c in cases if c.project_id == archived[0]["project_id"])
    capsys.readouterr()
    assert main(["upload", str(tmp_path / f"{case.project_id}.zip"), "--key", f"{case.project_id}-again.zip", "--wait"]) == 1
    assert "CORRECTION-UNCHANGED" in capsys.readouterr().out
    # the window corrects the returned case and uploads it again
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    data["case"]["remarks"] = "补正"
    (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    s3.upload_file(str(zip_case(case.folder, tmp_path / "fixed.zip")), intake, f"{case.project_id}-fixed.zip")
    wait_archived(1)
    end = time.monotonic() + 120
    while (next(r for r in catalogue_rows() if r["package_id"] == back)).get("status") != "ARCHIVED" and time.monotonic() < end:
        time.sleep(0.3)
    again = cli("transfer", "resubmit", batch, "--transferor", "李敏")
    cli("transfer", "submit", again, "--transferor", "李敏", "--wait", "--timeout", "180")
    assert "ACCEPTED" in cli("transfer", "accept", again, "--receiver", "王芳")
    capsys.readouterr()
    assert main(["transfer", "export", again, "--out", str(tmp_path / "export")]) == 0
    exported = capsys.readouterr().out
    assert "移交清单-" in exported and "receipt.json.receiver.p7s" in exported
    capsys.readouterr()
    assert main(["transfer", "list"]) == 0
    listing = capsys.readouterr().out
    assert batch in listing and again in listing
    # a wrong state is a clear error, exit 1
    capsys.readouterr()
    assert main(["transfer", "accept", again, "--receiver", "王芳"]) == 1
    assert "not waiting for a decision" in capsys.readouterr().err
    # the event log: every stream intact against its locked heads; a consistent rewrite of a decided batch is caught (F19)
    capsys.readouterr()
    assert main(["log", "verify"]) == 0
    verdict = capsys.readouterr().out
    lines = {line.split()[-1]: line for line in verdict.splitlines() if "#" in line}
    assert lines[f"batch#{batch}"].startswith("完好 intact") and lines[f"batch#{again}"].startswith("完好 intact")
    assert "0 被改动" in verdict
    from boto3.dynamodb.conditions import Key

    from earchive.domain.eventlog import entry_hash

    table = boto3.resource("dynamodb", endpoint_url=info["endpoint"], region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x").Table(info["resources"]["EventLogTable"])
    entries = sorted(table.query(KeyConditionExpression=Key("stream").eq(f"batch#{batch}"))["Items"],
                     key=lambda e: int(e["seq"]))
    prev = "0" * 64
    for entry in entries:  # the transferor's name rewritten and every hash recomputed
        entry = {**entry, "actor": "someone else"} if int(entry["seq"]) == 1 else dict(entry)
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(entry)
        table.put_item(Item=entry)
        prev = entry["hash"]
    assert main(["log", "verify", "--stream", f"batch#{batch}"]) == 1
    assert "被改动 TAMPERED" in capsys.readouterr().out
