"""The institution decides with its own key (issue 10): pull, check, reply on its own machine; the window's rules for a reply.

The registry, `earchive receive init|pull|check|reply`, and every rule a reply must meet before anything
changes (:func:`earchive.domain.reply.check`); the reply machine that applies it by itself on an S3
event is tested in test_reply_machine.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pytest

from earchive.check import CheckOptions
from earchive.cli import _seal_identity
from earchive.client import TransferService
from earchive.crypto.cades import add_signature_timestamp
from earchive.crypto.cms import signed_data
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.crypto.signers import make_tsa
from earchive.domain import reply as replies
from earchive.domain.institution import Scope
from earchive.domain.transfer import Selection
from earchive.errors import TransferError
from earchive.receive import Desk
from earchive_devtools.localcloud import LocalCloud
from tests.pipeline.test_transfer import archive

pytestmark = pytest.mark.slow  # the local cloud and the transfer machine


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def window_check(body: bytes, signature: bytes, registry, listing: dict, list_sha256: str, used: set[str]) -> list[str]:
    """What the window does with a reply (the same check `transfer take-reply` runs)."""
    return replies.check(body, signature, institution=registry.get(listing["institution"]), listing=listing,
                         list_sha256=list_sha256, used_reply_ids=used, at=dt.datetime.now(dt.UTC))


def test_an_institution_pulls_checks_and_replies_with_its_own_key_and_the_window_refuses_every_bad_reply(cloud, tmp_path):
    svc = TransferService.from_cloud(cloud)
    a, b = archive(cloud, tmp_path, [971, 972])

    desk_a, desk_b = Desk("430102001", tmp_path / "a-pc"), Desk("430103001", tmp_path / "b-pc")
    desk_a.init("芙蓉区行政审批服务局")
    desk_b.init("天心区行政审批服务局")
    assert (desk_a.folder / "reply-signer.csr").exists() and oct(desk_a.key_path.stat().st_mode)[-3:] == "600"
    with pytest.raises(TransferError, match="has a key already"):
        desk_a.init("again")
    registry = svc.aws.institutions
    province = Scope.parse(regions=["430000"])  # every sample region: this test is about replies, not competence
    registry.add("430102001", "芙蓉区行政审批服务局", certificates=[desk_a.cert_path.read_bytes()], principals=[], actor="管理员", scope=province)
    registry.add("430103001", "天心区行政审批服务局", certificates=[desk_b.cert_path.read_bytes()], principals=[], actor="管理员", scope=province)
    bid = svc.create(Selection(package_ids=(a["record_code"], b["record_code"])), institution="430102001",
                     institution_name="芙蓉区行政审批服务局", transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)

    anchors = load_trust_anchors(DevPKI().ca_path)  # locally the development CA stands for A's own anchors of the archive's seal
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    listing = desk_a.pull(svc.aws.s3, cloud.name("TransferBucket"), bid, trust=anchors, seal_identity=identity)
    assert desk_a.pull(svc.aws.s3, cloud.name("TransferBucket"), bid, trust=anchors, seal_identity=identity) == listing, "resumes"
    checks = desk_a.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
    assert all(c["passed"] and c["results"] and all(r["checked_at"] for r in c["results"]) for c in checks.values())
    document, body, signature = desk_a.reply(bid, receiver="王芳", returns={b["record_code"]: "申请表扫描件模糊，请重新扫描"})
    assert {p["package_id"]: p["outcome"] for p in document["packages"]} == {a["record_code"]: "ACCEPTED", b["record_code"]: "RETURNED"}
    sha = json.loads((desk_a.batch(bid) / "pulled.json").read_text("utf-8"))["list_sha256"]
    assert window_check(body, signature, registry, listing, sha, set()) == []

    def signed_by(desk: Desk, doc: dict, tsa=make_tsa("local"), stamped: bool = True) -> tuple[bytes, bytes]:
        raw = replies.encode(doc)
        signature = signed_data(desk.signer(), content=raw).dump()
        return raw, add_signature_timestamp(signature, tsa) if stamped else signature

    stranger_tsa = make_tsa("local", pki=DevPKI(tmp_path / "stranger"))
    refusals = {
        "no signature timestamp (CAdES-T)": (*signed_by(desk_a, {**document, "reply_id": "plain"}, stamped=False), "签名没有时间戳 / "),
        "a timestamp from a TSA the window does not trust": (*signed_by(desk_a, {**document, "reply_id": "odd-tsa"}, stranger_tsa),
                                                             "签名时间戳的签发机构不受信任 / signature timestamp's TSA"),
        "signed by B for A's batch": (*signed_by(desk_b, document), "not a certificate registered for institution 430102001"),
        "a replay": (body, signature, "was used already"),
        "an older list": (*signed_by(desk_a, {**document, "list_sha256": "0" * 64}), "another list"),
        "a package decided twice": (*signed_by(desk_a, {**document, "packages": document["packages"] + document["packages"][:1]}),
                                    "decided 2 times"),
        "a package left out": (*signed_by(desk_a, {**document, "packages": document["packages"][:1]}), "is not decided"),
        "a blank return reason": (*signed_by(desk_a, {**document, "packages": [{**p, "reason": " "} for p in document["packages"]]}),
                                  "needs a reason"),
        "bytes changed after signing": (body.replace("王芳".encode(), "李四".encode()), signature, "content altered"),
        "not JSON": (b"\xff" * 10, signed_data(desk_a.signer(), content=b"\xff" * 10).dump(), "not UTF-8"),
        "not JSON at all": (b"{oops", signed_data(desk_a.signer(), content=b"{oops").dump(), "not JSON"),
        "oversized": (b" " * (replies.MAX_BYTES + 1), signature, "over"),
    }
    for what, (raw, sig, expected) in refusals.items():
        used = {document["reply_id"]} if what == "a replay" else set()
        found = window_check(raw, sig, registry, listing, sha, used)
        assert any(expected in p for p in found), f"{what}: {found}"
    # The window takes replies from A's prefix: B's forgery is refused beside it (nothing changes), A's own reply decides
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    forged_body, forged_sig = signed_by(desk_b, {**document, "reply_id": "0-forged", "packages": [
        {**p, "outcome": "ACCEPTED", "failed_tests": []} for p in document["packages"]]})
    base = f"institutions/430102001/replies/{bid}/"
    s3.put(bucket, base + "0-forged.json.p7s", forged_sig)
    s3.put(bucket, base + "0-forged.json", forged_body)
    key = desk_a.send(s3, bucket, bid, document, body, signature)
    decided = svc.take_reply(bid, actor="窗口 李敏")
    assert decided["status"] == "PARTLY_RETURNED"
    refusal = json.loads(s3.get_bytes(bucket, base + "0-forged.refused.json"))
    assert refusal["changed"] == "nothing" and any("not a certificate registered" in p for p in refusal["problems"])
    receipt_base = f"institutions/430102001/batches/{bid}/"
    assert s3.get_bytes(bucket, receipt_base + "receipt.json") == body, "the receipt is the institution's reply, as it signed it"
    assert s3.get_bytes(bucket, receipt_base + "receipt.json.receiver.p7s") == signature, "the window signed nothing for it"
    assert svc.transfers.catalogue.get(b["record_code"])["status"] == "RETURNED"
    assert svc.transfers.catalogue.get(a["record_code"])["status"] == "ACCEPTED"
    assert svc.transfers.used_replies(bid) == {document["reply_id"]}
    assert svc.take_reply(bid, actor="窗口 李敏")["status"] == "PARTLY_RETURNED", "decided by a reply: asking again only reads it"
    with pytest.raises(TransferError, match="taken already"):
        svc.transfers.use_reply(bid, document["reply_id"], key, actor="x")
    # what the institution sees afterwards, from its own prefix only (issue 20 item 8, N9)
    status = desk_a.status(s3, bucket, bid)
    decision = status["decision"]
    assert decision["status"] == "PARTLY_RETURNED" and (decision["accepted"], decision["returned"]) == (1, 1)
    assert {p["package_id"]: (p["decision_zh"], p["reason"]) for p in decision["packages"]} == {
        a["record_code"]: ("接收", ""), b["record_code"]: ("退回", "申请表扫描件模糊，请重新扫描")}
    by_id = {r["reply_id"]: r for r in status["replies"]}
    assert by_id["0-forged"]["refused"]["lead"].startswith("回执 0-forged 于 ") and "被移交单位拒收" in by_id["0-forged"]["refused"]["lead"]
    assert any("not a certificate registered" in p for p in by_id["0-forged"]["refused"]["problems"]), "the reasons as the window gave them"
    assert by_id[document["reply_id"]]["refused"] is None and by_id[document["reply_id"]]["in_bucket"]
    with pytest.raises(TransferError, match=rf"批次 {bid} 已决定（部分退回：接收 1 件，退回 1 件），本次回执未发送"):
        desk_a.refuse_if_decided(s3, bucket, bid)
    from earchive.console.desk import Desk as ConsoleDesk

    shown = ConsoleDesk(cloud.settings(), aws=svc.aws).receiving.refused_replies(svc.transfers.batch(bid))
    assert [r["reply_id"] for r in shown] == ["0-forged"] and "被移交单位拒收" in shown[0]["lead"], "the receiver's page lists it too"
    registry.revoke("430102001", reason="机构撤并", actor="管理员")
    assert any("REVOKED" in p for p in window_check(body, signature, registry, listing, sha, set())), "a revoked institution"


def test_receive_status_prints_the_decision_and_receive_reply_on_a_decided_batch_refuses_locally(cloud, tmp_path, capsys, monkeypatch):
    """N9 through the CLI: `receive reply` on a decided batch names the decision and sends nothing; `receive status` says what happened."""
    import earchive.client as client
    from earchive.cli import main

    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    svc = TransferService.from_cloud(cloud)
    (c,) = archive(cloud, tmp_path, [973])
    if svc.aws.institutions.get("430106001") is None:
        svc.aws.institutions.add("430106001", "长沙市望城区行政审批服务局", certificates=[], principals=[], actor="管理员",
                                 scope=Scope.parse(regions=["430000"]))
    bid = svc.create(Selection(package_ids=(c["record_code"],)), institution="430106001", transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    assert main(["receive", "status", bid, "--institution", "430106001"]) == 0
    assert "尚未决定" in capsys.readouterr().out
    svc.decide(bid, receiver="王芳", returns={c["record_code"]: "申请表扫描件模糊，请重新扫描"})  # the window's development shortcut
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    before = s3.keys(bucket, f"institutions/430106001/replies/{bid}/")
    assert main(["receive", "reply", bid, "--institution", "430106001", "--receiver", "刘洋", "--accept-all"]) == 1
    assert f"批次 {bid} 已决定（全部退回：接收 0 件，退回 1 件），本次回执未发送" in capsys.readouterr().err
    assert s3.keys(bucket, f"institutions/430106001/replies/{bid}/") == before, "nothing was sent"
    assert main(["receive", "status", bid, "--institution", "430106001"]) == 0
    out = capsys.readouterr().out
    assert f"批次 {bid}：已决定 全部退回：接收 0 件，退回 1 件" in out and f"退回   {c['record_code']}  原因：申请表扫描件模糊，请重新扫描" in out
