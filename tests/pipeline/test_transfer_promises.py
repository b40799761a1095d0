"""Signed documents say exactly what happened, and no batch is ever stuck (review F11, P1, P3, F6, P11)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from asn1crypto import cms as acms

from earchive.client import TransferService
from earchive.crypto.cms import verify_signed_data
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.domain.transfer import Selection, transfer_list
from earchive.errors import TransferError
from earchive.pipeline.handler import make_handler
from earchive.pipeline.registry import Step
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from tests.pipeline.test_transfer import archive

pytestmark = pytest.mark.slow  # end to end: the real transfer ASL on the local cloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def new_batch(svc: TransferService, ids: list[str]) -> str:
    if svc.aws.institutions.get("430102001") is None:
        register(svc)
    return svc.create(Selection(package_ids=tuple(ids)), institution="430102001", institution_name="芙蓉区行政审批服务局",
                      transferor="窗口 李敏")["batch_id"]


def receipt_of(cloud: LocalCloud, batch_id: str) -> tuple[dict, bytes, bytes]:
    s3 = cloud.client("s3")
    base = f"institutions/430102001/batches/{batch_id}/"
    body = s3.get_object(Bucket=cloud.name("TransferBucket"), Key=base + "receipt.json")["Body"].read()
    sig = s3.get_object(Bucket=cloud.name("TransferBucket"), Key=base + "receipt.json.receiver.p7s")["Body"].read()
    return json.loads(body), body, sig


def test_a_decision_naming_a_package_outside_the_batch_is_refused_and_the_batch_keeps_waiting(cloud, tmp_path):
    """P1: refused before anything is signed or sent; even sent straight to the machine it only makes it wait again."""
    svc = TransferService.from_cloud(cloud)
    (pkg,) = archive(cloud, tmp_path, [951])
    bid = new_batch(svc, [pkg["record_code"]])
    svc.submit(bid, actor="窗口 李敏")
    svc.wait_for_decision(bid)
    with pytest.raises(TransferError, match="not in this batch"):
        svc.decide(bid, receiver="王芳", returns={"430102-0102-1-2026-D30-999999": "申请表模糊"})
    token = svc.transfers.batch(bid)["task_token"]
    svc.aws.executions.send_success(token, {"batch_id": bid, "receiver": "王芳", "returns": {"no-such-package": "x"}})
    waiting = svc._poll_batch(bid, lambda b: b["status"] == "RECEIVING" and b.get("task_token") not in (None, token), 120, "waited again")
    assert waiting["status"] == "RECEIVING"
    assert cloud.client("s3").list_objects_v2(Bucket=cloud.name("TransferBucket"),
                                              Prefix=f"institutions/430102001/batches/{bid}/receipt").get("KeyCount") == 0
    assert svc.decide(bid, receiver="王芳")["status"] == "ACCEPTED"


def test_the_signed_receipt_lists_every_outcome_and_nothing_unchecked_is_accepted(cloud, tmp_path):
    """F11 + P3: a package whose copy vanished is never accepted; the receipt names it returned, after the decision."""
    svc = TransferService.from_cloud(cloud)
    good, gone = archive(cloud, tmp_path, [952, 953])
    bid = new_batch(svc, [good["record_code"], gone["record_code"]])
    item = svc.transfers.package(bid, gone["record_code"])
    s3 = cloud.client("s3")
    src = dict(item["archive"])

    def vanishing_copy(event, rt):  # the archived version is unreadable for this one package (the review's P3 setup)
        if event["package_id"] == gone["record_code"]:
            raise RuntimeError(f"NoSuchVersion s3://{src['bucket']}/{src['key']}")
        from earchive.pipeline.transfer import copy

        return copy.run(event, rt)

    cloud.deploy("TransferCopyFunction", make_handler("transfer.copy", Step(vanishing_copy, "[batch_id, package_id, attempt]")))
    try:
        svc.submit(bid, actor="窗口 李敏")
        svc.wait_for_decision(bid)
    finally:
        cloud.undeploy("TransferCopyFunction")
    decided = svc.decide(bid, receiver="王芳")
    assert decided["status"] == "PARTLY_RETURNED" and int(decided["withdrawn_count"]) == 1 and int(decided["returned_count"]) == 0
    left = svc.transfers.catalogue.get(gone["record_code"])
    assert left["status"] == "ARCHIVED" and not left.get("transfer_batch"), "never received: no correction needed, free for the next batch"
    receipt, body, sig = receipt_of(cloud, bid)
    assert receipt["decisions"][good["record_code"]] == "接收"
    assert receipt["decisions"][gone["record_code"]].startswith("未接收：未完成接收检测")
    assert receipt["status"] == "PARTLY_RETURNED" and receipt["decided_at"]
    check = verify_signed_data(acms.ContentInfo.load(sig), load_trust_anchors(DevPKI().ca_path), content=body)
    assert check.ok and "institution" in check.signer_subject
    assert s3.head_object(Bucket=src["bucket"], Key=src["key"], VersionId=src["version_id"])
    again = svc.resubmit(bid, transferor="窗口 李敏")  # the withdrawn package travels again as it is
    assert [p["package_id"] for p in svc.transfers.packages(again["batch_id"])] == [gone["record_code"]]
    svc.submit(again["batch_id"], actor="窗口 李敏")
    svc.wait_for_decision(again["batch_id"])
    assert svc.decide(again["batch_id"], receiver="王芳")["status"] == "ACCEPTED"
    # both decided batches' event streams are locked in the archive bucket and intact (F19)
    from earchive.client import verify_event_log

    report = verify_event_log(svc, [f"batch#{bid}", f"batch#{again['batch_id']}"])
    assert report == {f"batch#{bid}": [], f"batch#{again['batch_id']}": []}


def test_a_failed_run_can_be_cancelled_back_to_draft_and_sent_again_or_discarded(cloud, tmp_path):
    svc = TransferService.from_cloud(cloud)
    a, b = archive(cloud, tmp_path, [954, 955])

    def bug(state, rt):
        raise KeyError("a bug in AwaitDecision")

    bid = new_batch(svc, [a["record_code"]])
    cloud.deploy("TransferAwaitDecisionFunction", make_handler("transfer.await_decision", Step(bug, "[batch_id, token]")))
    try:
        svc.submit(bid, actor="窗口 李敏")
        with pytest.raises(TransferError, match="transfer cancel"):
            svc.wait_for_decision(bid, timeout=120)
    finally:
        cloud.undeploy("TransferAwaitDecisionFunction")
    assert svc.cancel(bid, actor="李敏")["status"] == "DRAFT"
    svc.submit(bid, actor="窗口 李敏")
    svc.wait_for_decision(bid)
    assert svc.decide(bid, receiver="王芳")["status"] == "ACCEPTED"
    other = new_batch(svc, [b["record_code"]])
    assert svc.discard(other, actor="李敏")["status"] == "CANCELLED"
    assert new_batch(svc, [b["record_code"]]) != other, "its package joins another batch"


def test_the_date_on_the_signed_list_is_the_beijing_date_of_the_batch():
    """P11: submitted at 01:30 on the 26th in Beijing (17:30 UTC on the 25th)."""
    batch = {"batch_id": "202611260001", "institution": "i", "institution_name": "机构", "transferor": "李敏",
             "submitted_at": dt.datetime(2026, 11, 25, 17, 30, tzinfo=dt.UTC).isoformat(), "created_at": "2026-11-25T17:00:00+00:00"}
    assert transfer_list(batch, [])["transfer_date"] == "2026-11-26"
