"""Transfer and receipt on the local cloud: the loop, exclusivity, tampering caught, return → fix → accept, exports."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import boto3
import pytest

from earchive.aws.eventlog import EventLog
from earchive.aws.transfers import Transfers
from earchive.crypto.pki import DevPKI
from earchive.domain.transfer import Selection, transfer_list
from earchive.errors import TransferError
from earchive.pipeline.registry import STEPS
from earchive.pipeline.runtime import Runtime
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


@pytest.fixture
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def archive(cloud: LocalCloud, tmp_path: Path, seeds: list[int], files: int = 5, key_suffix: str = "") -> list[dict]:
    for seed in seeds:
        case = sample_case(tmp_path / f"cases{key_suffix}", seed=seed, files=files)
        cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}{key_suffix}.zip"))
    results = list(cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values())
    assert all(r["status"] == "SUCCEEDED" for r in results), [r.get("cause", "")[:300] for r in results]
    return [json.loads(r["output"]) for r in results]


def transfers(cloud: LocalCloud) -> Transfers:
    ddb = boto3.resource("dynamodb", region_name="us-east-1")
    return Transfers(ddb.Table(cloud.name("TransferTable")), cloud.catalogue(), EventLog(ddb.Table(cloud.name("EventLogTable"))))


def run_transfer(cloud: LocalCloud, batch_id: str, *, tamper: str | None = None, returns: dict | None = None) -> dict:
    """submit → copy → (tamper) → receiving check → wait → decide, calling the steps in order."""
    rt = Runtime.from_env()
    sub = STEPS["transfer.submit"].run({"batch_id": batch_id, "actor": "窗口 李敏"}, rt)
    s3 = cloud.client("s3")
    items = json.loads(s3.get_object(Bucket=sub["items"]["bucket"], Key=sub["items"]["key"])["Body"].read())
    assert len(items) == sub["count"]
    for item in items:
        STEPS["transfer.copy"].run(item, rt)
    if tamper:
        t = transfers(cloud)
        copy = t.package(batch_id, tamper)["transfer_copy"]
        s3 = cloud.client("s3")
        data = bytearray(s3.get_object(Bucket=copy["bucket"], Key=copy["key"])["Body"].read())
        data[len(data) // 3] ^= 0xFF
        s3.put_object(Bucket=copy["bucket"], Key=copy["key"], Body=bytes(data))
        t.set_package(batch_id, tamper, transfer_copy={**copy, "version_id": ""})
    for item in items:
        STEPS["transfer.receive_check"].run(item, rt)
    STEPS["transfer.await_decision"].run({"batch_id": batch_id, "token": "local-token"}, rt)
    return STEPS["transfer.decide"].run({"batch_id": batch_id, "receiver": "区行政审批局 王芳", "returns": returns or {}}, rt)


def test_transfer_loop_with_return_fix_and_acceptance(cloud, tmp_path):
    archived = archive(cloud, tmp_path, [401, 402, 403])
    t = transfers(cloud)
    codes = sorted(a["record_code"] for a in archived)
    batch = t.create(Selection(), institution="430102001", institution_name="长沙市芙蓉区行政审批服务局", transferor="窗口 李敏")
    assert batch["status"] == "DRAFT" and int(batch["package_count"]) == 3
    assert len(batch["batch_id"]) == 12 and batch["batch_id"].isdigit()

    # a package cannot go in two batches
    with pytest.raises(TransferError, match="already in transfer batch"):
        t.create(Selection(package_ids=(codes[0],)), institution="x", institution_name="x", transferor="x")

    # tampered in transit → caught at receipt with the right YJ tests; another returned by the institution's choice
    tampered, returned_by_choice = codes[0], codes[1]
    out = run_transfer(cloud, batch["batch_id"], tamper=tampered, returns={returned_by_choice: "申请表扫描件不清晰，请补正"})
    assert out == {"batch_id": batch["batch_id"], "status": "PARTLY_RETURNED", "accepted": 1, "returned": 2, "withdrawn": 0}
    pk = {p["package_id"]: p for p in t.packages(batch["batch_id"])}
    failed_ids = {f["id"] for f in pk[tampered]["receipt"]["failed"]}
    assert "YJ-1-14" in failed_ids, "the package digest differs from the signed transfer list"
    assert failed_ids & {"YJ-1-1-1", "YJ-2-7", "YJ-1-13"}, failed_ids
    assert pk[returned_by_choice]["receipt"]["passed"] is True and pk[returned_by_choice]["state"] == "RETURNED"
    cat = cloud.catalogue()
    assert cat.get(codes[2])["status"] == "ACCEPTED"
    assert cat.get(tampered)["status"] == "RETURNED" and "YJ-1-14" in " ".join(cat.get(tampered)["return_failed_tests"])
    assert cat.get(returned_by_choice)["return_reason"] == "申请表扫描件不清晰，请补正"

    # resubmitting before the fix is refused
    with pytest.raises(TransferError, match="not corrected"):
        t.resubmit(batch["batch_id"], transferor="窗口 李敏")

    # the window corrects both cases (a metadata correction) and uploads them again: new versions, old ones kept
    for code in (tampered, returned_by_choice):
        project_id = cat.get(code)["project_id"]
        folder = tmp_path / "cases" / f"case-{project_id}"
        data = json.loads((folder / "case.json").read_text("utf-8"))
        data["case"]["remarks"] = "补正：按接收单位退回意见重新扫描申请表"
        data["materials"][0]["title"] += "（补正）"
        (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        cloud.upload(zip_case(folder, tmp_path / f"{project_id}-v2.zip"))
    v2 = [json.loads(r["output"]) for r in cloud.wait(cloud.dispatch(wait=0.5)).values()]
    assert sorted(a["record_code"] for a in v2) == sorted((tampered, returned_by_choice))
    for a in v2:
        item = cat.get(a["record_code"])
        assert item["status"] == "ARCHIVED" and int(item["package_version"]) == 2
        assert item["versions"][0]["return_reason"], "the history says why version 1 was returned"
        assert cat.get(a["record_code"] + "#v1")["status"] == "RETURNED", "the returned version is kept in the catalogue"
        versions = cloud.client("s3").list_object_versions(Bucket=a["archive"]["bucket"], Prefix=a["archive"]["key"])["Versions"]
        assert len(versions) == 2, "both package versions are kept in the archive bucket"

    again = t.resubmit(batch["batch_id"], transferor="窗口 李敏")
    assert again["resubmits"] == batch["batch_id"] and int(again["package_count"]) == 2
    out2 = run_transfer(cloud, again["batch_id"])
    assert out2["status"] == "ACCEPTED" and out2["accepted"] == 2
    assert all(cat.get(c)["status"] == "ACCEPTED" for c in codes)

    # both parties' signatures verify with stock OpenSSL
    s3 = cloud.client("s3")
    base = f"institutions/430102001/batches/{again['batch_id']}/"
    bucket = cloud.name("TransferBucket")
    for doc, sig in (("transfer-list.json", "transfer-list.json.sender.p7s"), ("receipt.json", "receipt.json.receiver.p7s")):
        (tmp_path / doc).write_bytes(s3.get_object(Bucket=bucket, Key=base + doc)["Body"].read())
        (tmp_path / sig).write_bytes(s3.get_object(Bucket=bucket, Key=base + sig)["Body"].read())
        proc = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / sig),
                               "-content", str(tmp_path / doc), "-CAfile", str(DevPKI().ca_path), "-out", "/dev/null"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    from asn1crypto import cms as acms

    from earchive.crypto.cms import verify_signed_data
    from earchive.crypto.pki import load_trust_anchors

    signers = set()
    for doc, sig in (("transfer-list.json", "transfer-list.json.sender.p7s"), ("receipt.json", "receipt.json.receiver.p7s")):
        result = verify_signed_data(acms.ContentInfo.load((tmp_path / sig).read_bytes()), load_trust_anchors(DevPKI().ca_path),
                                    content=(tmp_path / doc).read_bytes())
        assert result.ok
        signers.add(result.signer_subject)
        from earchive.crypto.cades import signature_timestamp

        stamped_at, problems = signature_timestamp((tmp_path / sig).read_bytes(), load_trust_anchors(DevPKI().ca_path))
        assert problems == [] and stamped_at is not None, (sig, problems)  # CAdES-T: each carries a TSA's time over its signature
    assert len(signers) == 2, f"each party signs with its own key: {signers}"

    # every move is in the batch's event log, intact
    log = EventLog(boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("EventLogTable")))
    moves = [e["action"] for e in sorted(log.entries(f"batch#{batch['batch_id']}"), key=lambda e: int(e["seq"]))]
    assert moves == ["create", "move:SUBMITTED", "move:RECEIVING", "move:PARTLY_RETURNED"]
    assert log.verify(f"batch#{batch['batch_id']}") == []


def test_the_machines_own_retries_are_idempotent(cloud, tmp_path):
    """Submit, AwaitDecision and Decide retried by Step Functions do not fail or repeat work."""
    archive(cloud, tmp_path, [412])
    t = transfers(cloud)
    rt = Runtime.from_env()
    batch = t.create(Selection(), institution="i1", institution_name="机构", transferor="窗口")
    bid = batch["batch_id"]
    first = STEPS["transfer.submit"].run({"batch_id": bid, "actor": "窗口"}, rt)
    assert STEPS["transfer.submit"].run({"batch_id": bid, "actor": "窗口"}, rt) == first
    items = json.loads(cloud.client("s3").get_object(Bucket=first["items"]["bucket"], Key=first["items"]["key"])["Body"].read())
    for item in items:
        STEPS["transfer.copy"].run(item, rt)
        STEPS["transfer.receive_check"].run(item, rt)
    STEPS["transfer.await_decision"].run({"batch_id": bid, "token": "t1"}, rt)
    STEPS["transfer.await_decision"].run({"batch_id": bid, "token": "t2"}, rt)
    assert t.batch(bid)["task_token"] == "t2"
    decided = STEPS["transfer.decide"].run({"batch_id": bid, "receiver": "王芳", "returns": {}}, rt)
    assert STEPS["transfer.decide"].run({"batch_id": bid, "receiver": "王芳", "returns": {}}, rt) == decided
    moves = [e["action"] for e in EventLog(boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("EventLogTable"))).entries(f"batch#{bid}")]
    assert moves.count("move:SUBMITTED") == 1 and moves.count("move:ACCEPTED") == 1


def test_states_cannot_be_skipped_or_repeated(cloud, tmp_path):
    archive(cloud, tmp_path, [411])
    t = transfers(cloud)
    batch = t.create(Selection(), institution="i1", institution_name="机构", transferor="窗口")
    with pytest.raises(TransferError, match="cannot move to RECEIVING"):
        t.move(batch["batch_id"], "RECEIVING", allowed_from=("SUBMITTED",), actor="x")
    t.move(batch["batch_id"], "SUBMITTED", allowed_from=("DRAFT",), actor="x")
    with pytest.raises(TransferError, match="is SUBMITTED"):
        t.move(batch["batch_id"], "SUBMITTED", allowed_from=("DRAFT",), actor="second clerk")


def test_exports_read_back(cloud, tmp_path):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from earchive.domain.exports import catalogue_csv, catalogue_xlsx, transfer_list_pdf, transfer_list_xlsx

    archive(cloud, tmp_path, [421, 422, 423, 424])
    t = transfers(cloud)
    batch = t.create(Selection(), institution="i1", institution_name="芙蓉区行政审批服务局", transferor="窗口 李敏")
    doc = transfer_list(batch, t.packages(batch["batch_id"]))
    xlsx = transfer_list_xlsx(doc, tmp_path / "list.xlsx")
    ws = load_workbook(xlsx)["移交清单"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0][0] == "政务服务电子档案移交清单"
    assert values[2] == ["序号", "批次编号", "办理事项名称", "事项类型", "归档信息包数量", "检测意见", "备注"]
    rows = [r for r in values[3:] if isinstance(r[0], int)]
    assert sum(r[4] for r in rows) == 4 and all(r[1] == batch["batch_id"] for r in rows)
    assert {r[3] for r in rows} <= {"行政权力事项", "公共服务事项"}
    assert any("移交人：窗口 李敏" == (v or "") for v in values[-1])
    pdf = transfer_list_pdf(doc, tmp_path / "list.pdf")
    # pypdf pads the two-byte codes of this CID font with NULs; the text layer itself is right (pdftotext agrees)
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages).replace("\x00", "").replace(" ", "")
    assert "政务服务电子档案移交清单" in text and batch["batch_id"] in text and "移交人" in text and "接收人" in text
    for row in doc["rows"]:
        assert row["办理事项名称"] in text
    items = cloud.catalogue().by_status("ARCHIVED")
    cx = load_workbook(catalogue_xlsx(items, tmp_path / "cat.xlsx"))["归档目录清单"]
    assert cx.max_row == 5 and cx["B1"].value == "电子文件号"
    csv_text = catalogue_csv(items, tmp_path / "cat.csv").read_text("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("序号,电子文件号") and len(csv_text.splitlines()) == 5
    with zipfile.ZipFile(xlsx) as zf:  # a real OOXML workbook
        assert "xl/workbook.xml" in zf.namelist()


def test_the_real_transfer_state_machine(cloud, tmp_path, capsys):
    """create → submit (Distributed Map copy + YJ checks) → the machine waits → return one → fix → resubmit → accept."""
    from earchive.client import TransferService

    archived = archive(cloud, tmp_path, [431, 432, 433])
    svc = TransferService.from_cloud(cloud)
    from earchive.pipeline.handler import make_handler
    from earchive.pipeline.registry import Step

    corrupted = archived[2]["record_code"]

    def copy_corrupting_one(item, rt):  # a bit flipped in transit, for one package
        out = STEPS["transfer.copy"].run(item, rt)
        if item["package_id"] == corrupted:
            p = rt.aws.transfers.package(item["batch_id"], item["package_id"])["transfer_copy"]
            s3 = cloud.client("s3")
            data = bytearray(s3.get_object(Bucket=p["bucket"], Key=p["key"], VersionId=p["version_id"])["Body"].read())
            data[len(data) // 2] ^= 0x01
            v = s3.put_object(Bucket=p["bucket"], Key=p["key"], Body=bytes(data))["VersionId"]
            rt.aws.transfers.set_package(item["batch_id"], item["package_id"], transfer_copy={**p, "version_id": v})
        return out

    cloud.deploy("TransferCopyFunction", make_handler("transfer.copy", Step(copy_corrupting_one, STEPS["transfer.copy"].idempotency_key)))
    register(svc)
    batch = svc.create(Selection(), institution="430102001", institution_name="芙蓉区行政审批服务局", transferor="窗口 李敏")
    arn = svc.submit(batch["batch_id"], actor="窗口 李敏")
    waiting = svc.wait_for_decision(batch["batch_id"])
    assert waiting["status"] == "RECEIVING"
    assert cloud.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING", "sleeping on the task token"
    cloud.undeploy("TransferCopyFunction")
    shown = svc.show(batch["batch_id"])
    receipts = {p["package_id"]: p["receipt"] for p in shown["packages"]}
    assert {p["state"] for p in shown["packages"]} == {"CHECKED"}
    assert receipts[corrupted]["passed"] is False and "YJ-1-14" in {f["id"] for f in receipts[corrupted]["failed"]}
    assert all(r["passed"] for pid, r in receipts.items() if pid != corrupted)
    assert sum(r["归档信息包数量"] for r in shown["rows"]) == 3
    assert svc.transfers.rows(batch["batch_id"])[0]["批次编号"] == batch["batch_id"], "DynamoDB holds the rows"
    back = archived[0]["record_code"]
    done = svc.decide(batch["batch_id"], receiver="王芳", returns={back: "缺少现场照片，请补拍后补正"})
    assert done["status"] == "PARTLY_RETURNED" and int(done["returned_count"]) == 2, "the corrupted one is returned too"
    assert "YJ-1-14" in " ".join(cloud.catalogue().get(corrupted)["return_failed_tests"])
    opinions = " ".join(r["检测意见"] + r["备注"] for r in svc.transfers.rows(batch["batch_id"]))
    assert "不合格" in opinions and "退回" in opinions
    accepted = archived[1]["record_code"]
    from earchive.aws.catalogue import FileMap

    fmap = FileMap(boto3.resource("dynamodb", region_name="us-east-1").Table(cloud.name("FileMapTable")))
    assert all(f["accepted_copy"]["key"].startswith("institutions/430102001/") for f in fmap.of_package(accepted)), \
        "every electronic file maps to the copy the institution received"
    assert cloud.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    with pytest.raises(TransferError):
        svc.decide(batch["batch_id"], receiver="王芳")  # decided once only

    # the window fixes the returned case, the pipeline archives version 2, the batch is resubmitted and accepted
    project_id = cloud.catalogue().get(back)["project_id"]
    folder = tmp_path / "cases" / f"case-{project_id}"
    data = json.loads((folder / "case.json").read_text("utf-8"))
    data["case"]["remarks"] = "补正：补充现场照片"
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    cloud.upload(zip_case(folder, tmp_path / f"{project_id}-fixed.zip"))
    (fixed,) = cloud.wait(cloud.dispatch(wait=0.5)).values()
    assert fixed["status"] == "SUCCEEDED"
    with pytest.raises(TransferError, match="not corrected"):
        svc.resubmit(batch["batch_id"], transferor="窗口 李敏")  # the corrupted one is not re-sent yet
    again = svc.resubmit(batch["batch_id"], transferor="窗口 李敏", ready_only=True)
    assert int(again["package_count"]) == 1
    svc.submit(again["batch_id"], actor="窗口 李敏")
    svc.wait_for_decision(again["batch_id"])
    assert svc.decide(again["batch_id"], receiver="王芳")["status"] == "ACCEPTED"
    item = cloud.catalogue().get(back)
    assert item["status"] == "ACCEPTED" and int(item["package_version"]) == 2 and item["accepted_batch"] == again["batch_id"]
    # the institution pulls its prefix and verifies offline with its own anchors
    from earchive.cli import main

    s3 = cloud.client("s3")
    prefix = f"institutions/430102001/batches/{again['batch_id']}/"
    local = tmp_path / "pulled"
    for obj in s3.list_objects_v2(Bucket=cloud.name("TransferBucket"), Prefix=prefix)["Contents"]:
        target = local / obj["Key"][len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(cloud.name("TransferBucket"), obj["Key"], str(target))
    capsys.readouterr()
    assert main(["verify-batch", str(local), "--trust", str(DevPKI().ca_path)]) == 0
    said = capsys.readouterr().out.splitlines()  # the list and the reply, each with the TSA's time (CAdES-T) in Beijing time
    for what in ("transfer list", "reply (receipt.json)"):
        (line,) = [s for s in said if s.startswith(f"✓ {what} signed by ")]
        assert "签名时间戳 signature timestamp 20" in line and line.endswith("北京时间"), line
    receipt_sig = (local / "receipt.json.receiver.p7s").read_bytes()  # a reply signed without one is refused by name
    from earchive.crypto.cms import signed_data
    from earchive.crypto.signers import make_signer

    (local / "receipt.json.receiver.p7s").write_bytes(signed_data(make_signer("dev:institution"), content=(local / "receipt.json").read_bytes()).dump())
    assert main(["verify-batch", str(local), "--trust", str(DevPKI().ca_path)]) == 1
    refused = capsys.readouterr().out
    assert "✗ reply (receipt.json) signed by" in refused and "签名没有时间戳" in refused, refused
    (local / "receipt.json.receiver.p7s").write_bytes(receipt_sig)
    other_ca = DevPKI(tmp_path / "stranger").ca_path  # anchors the sender does not chain to
    assert main(["verify-batch", str(local), "--trust", str(other_ca)]) == 1
    gone = next((local / "packages").glob("*.zip"))  # a package listed but not downloaded: one line, not 35 (P14)
    gone.unlink()
    capsys.readouterr()
    assert main(["verify-batch", str(local), "--trust", str(DevPKI().ca_path)]) == 1
    said = capsys.readouterr().out
    assert len([line for line in said.splitlines() if gone.stem in line]) == 1 and "缺少信息包 missing" in said
    paths = svc.export(again["batch_id"], tmp_path / "export")
    names = {p.name for p in paths}
    assert {"transfer-list.json.sender.p7s", "receipt.json.receiver.p7s"} <= names
    assert any(n.endswith(".pdf") for n in names) and any(n.endswith(".xlsx") for n in names)


def test_cancel_aborts_a_batch_waiting_for_the_institution_as_on_aws(cloud, tmp_path):
    """Issue 21: StopExecution aborts at once on AWS, also an execution asleep on a task token; moto left it RUNNING until a
    callback came. The local cloud's stop now wakes the waiting task, and the run ends ABORTED, not FAILED."""
    import time

    from earchive.client import TransferService

    svc = TransferService.from_cloud(cloud)
    register(svc)
    a, = archive(cloud, tmp_path, [992])
    bid = svc.create(Selection(package_ids=(a["record_code"],)), institution="430102001", transferor="李敏")["batch_id"]
    arn = svc.submit(bid, actor="李敏")
    assert svc.wait_for_decision(bid)["status"] == "RECEIVING"
    svc.cancel(bid, actor="李敏")
    sfn, deadline = cloud.client("stepfunctions"), time.monotonic() + 10
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert svc.transfers.batch(bid)["status"] == "DRAFT", "back to DRAFT: submit it again or discard it"
