"""An S3 event on a reply starts its verification (issue 10): the reply machine refuses bad replies by name and takes a good
one; the final printed list carries the window's certification and the institution's approval, valid with pyHanko and pdfsig."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earchive.check import CheckOptions
from earchive.cli import _seal_identity
from earchive.client import TransferService
from earchive.crypto import pdf_sign
from earchive.crypto.cms import signed_data
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.crypto.signers import make_tsa
from earchive.domain import reply as replies
from earchive.domain.transfer import Selection
from earchive.errors import TransferError
from earchive.receive import Desk
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from tests.pipeline.test_transfer import archive

pytestmark = pytest.mark.slow  # the local cloud, the transfer and reply machines


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def verdicts(cloud, expected: set[str]) -> dict[str, dict]:
    """Run the reply machine on every reply S3 announced (until the expected ones came); its output per reply file name."""
    found: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    while not expected <= set(found) and time.monotonic() < deadline:
        done = cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), timeout=300)
        assert all(d["status"] == "SUCCEEDED" for d in done.values()), [d.get("cause") for d in done.values()]
        found.update({v["key"].rsplit("/", 1)[-1]: v for v in (json.loads(d["output"]) for d in done.values())})
    return found


def test_the_reply_machine_refuses_bad_replies_takes_a_good_one_and_the_list_carries_both_signatures(cloud, tmp_path):
    svc = TransferService.from_cloud(cloud)
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    a, b = archive(cloud, tmp_path, [981, 982])
    desk_a, desk_b = Desk("430102001", tmp_path / "a-pc"), Desk("430103001", tmp_path / "b-pc")
    for code, desk, name in (("430102001", desk_a, "芙蓉区行政审批服务局"), ("430103001", desk_b, "天心区行政审批服务局")):
        register(svc, code, name, certificates=[desk.init(name).read_bytes()])
    bid = svc.create(Selection(package_ids=(a["record_code"], b["record_code"])), institution="430102001",
                     institution_name="芙蓉区行政审批服务局", transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    base = f"institutions/430102001/batches/{bid}/"
    sent = {k.removeprefix(base) for k in s3.keys(bucket, base)}
    assert {f"归档目录清单-{bid}.csv", f"归档目录清单-{bid}.xlsx"} <= sent, "the 归档目录清单 travels with the packages (seed §6.8)"
    assert not {"items.json", "manifest.json"} & sent and not any("arn:" in k for k in sent), "nothing of the machine's in the prefix"
    certified = s3.get_bytes(bucket, base + "transfer-list.pdf")
    assert certified and pdf_sign.certification_problems(certified, [DevPKI().ca_cert()]) == [], "the window certified the form at submit"

    anchors = load_trust_anchors(DevPKI().ca_path)
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    desk_a.pull(s3, bucket, bid, trust=anchors, seal_identity=identity)
    assert (desk_a.batch(bid) / "transfer-list.pdf").read_bytes() == certified, "pulled, its certification verified"
    desk_a.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
    document, body, signature = desk_a.reply(bid, receiver="王芳", returns={b["record_code"]: "申请表扫描件模糊，请重新扫描后补正"})
    assert document["list_pdf_sha256"] == hashlib.sha256(certified).hexdigest()

    # Refused by the machine, each for what it is: A's reply whose printed list B approved; one answering an older printed list
    replies_base = f"institutions/430102001/replies/{bid}/"
    b_approved = pdf_sign.approve(certified, desk_b.signer(), make_tsa("local"))
    listing = json.loads((desk_a.batch(bid) / "transfer-list.json").read_bytes())
    wrong = {**replies.printed_answers(listing, document, certified), "Opinion1": "合格"}  # says more than the reply decided
    a_wrong = pdf_sign.approve(certified, desk_a.signer(), make_tsa("local"), values=wrong)
    bad = {"b-approved": ({**document, "reply_id": "b-approved", "signed_pdf_sha256": hashlib.sha256(b_approved).hexdigest()}, b_approved,
                          "not by a certificate registered"),
           "older-list": ({**document, "reply_id": "older-list", "list_pdf_sha256": "0" * 64}, b_approved, "another printed list"),
           "wrong-answers": ({**document, "reply_id": "wrong-answers", "signed_pdf_sha256": hashlib.sha256(a_wrong).hexdigest()}, a_wrong,
                             "the field Opinion1 says '合格'")}
    for name, (doc, pdf, _) in bad.items():
        raw = replies.encode(doc)
        s3.put(bucket, replies_base + name + ".pdf", pdf)
        s3.put(bucket, replies_base + name + ".json.p7s", signed_data(desk_a.signer(), content=raw).dump())
        s3.put(bucket, replies_base + name + ".json", raw)
    s3.put(bucket, replies_base + "deep.json.p7s", b"not a signature")  # the probe that crashed the machine (issue 21): a verdict now
    s3.put(bucket, replies_base + "deep.json", b"[" * 200_000 + b"]" * 200_000)
    found = verdicts(cloud, {name + ".json" for name in bad} | {"deep.json"})
    assert found["deep.json"]["outcome"] == "refused" and "nested deeper" in found["deep.json"]["problems"][0], found["deep.json"]
    assert json.loads(s3.get_bytes(bucket, replies_base + "deep.refused.json"))["changed"] == "nothing"
    for name, (_, _, expected) in bad.items():
        assert found[name + ".json"]["outcome"] == "refused" and any(expected in p for p in found[name + ".json"]["problems"]), found
        note = json.loads(s3.get_bytes(bucket, replies_base + name + ".refused.json"))
        assert note["changed"] == "nothing"
    assert svc.transfers.batch(bid)["status"] == "RECEIVING", "nothing changed"

    desk_a.send(s3, bucket, bid, document, body, signature)
    found = verdicts(cloud, {document["reply_id"] + ".json"})
    assert found[document["reply_id"] + ".json"]["outcome"] == "taken"
    decided = svc.take_reply(bid, actor="李敏")  # decided by the machine: this only waits for the decision and reads it
    assert decided["status"] == "PARTLY_RETURNED" and decided.get("decided_by_reply")
    final = s3.get_bytes(bucket, base + "transfer-list.signed.pdf")
    assert final.startswith(certified)
    assert pdf_sign.approval_problems(certified, final, [desk_a.signer().certificate], [DevPKI().ca_cert()]) == []
    path = tmp_path / "final.pdf"
    path.write_bytes(final)
    assert shutil.which("pdfsig"), "poppler-utils is installed by `make system-deps`"
    assert subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout.count("Signature is Valid.") == 2
    actions = [e["action"] for e in svc.aws.events.entries(f"batch#{bid}")]
    assert actions.count("reply-refused") == 4 and "reply-taken" in actions

    # What both parties signed shows the outcome in the table itself (issue 20): 检测意见, 接收人, 接收日期, the 接收单位 column
    from earchive.domain.final import final_list
    from earchive.domain.transfer_form import PENDING

    receipt = json.loads(s3.get_bytes(bucket, base + "receipt.json"))
    decided_list = final_list(listing, receipt)
    text = "".join(subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, timeout=60, check=True).stdout.split())
    for row in decided_list["rows"]:
        assert "".join(row["检测意见"].split()) in text, row
    assert any("退回" in row["检测意见"] for row in decided_list["rows"]) and PENDING not in text
    assert "王芳" in text and decided_list["received_date"] in text and "北京时间" in text
    for value in decided_list["receiver_checks"].values():
        assert "".join(value.split()) in text

    # One list, one truth: a re-export after the catalogue moved on (a later version of b) says the same, byte for byte
    first = {p.name: p.read_bytes() for p in svc.export(bid, tmp_path / "export-1")}
    svc.aws.catalogue.table.update_item(Key={"package_id": b["record_code"]}, UpdateExpression="SET package_sm3 = :d, package_version = :v",
                                        ExpressionAttributeValues={":d": "f" * 64, ":v": 2})
    again = {p.name: p.read_bytes() for p in svc.export(bid, tmp_path / "export-2")}
    for name in (f"移交清单-{bid}.json", f"归档目录清单-{bid}.csv"):
        assert again[name] == first[name], name
    rows = again[f"归档目录清单-{bid}.csv"].decode("utf-8-sig")
    assert b["package"]["sm3"] in rows and "f" * 64 not in rows and "已退回待更正" in rows, "the version this batch carried, with its outcome"
    assert json.loads(again[f"移交清单-{bid}.json"])["rows"] == decided_list["rows"]

    # The 归档目录清单 in the institution's prefix is checked on pull: an altered one is refused
    csv_key = base + f"归档目录清单-{bid}.csv"
    s3.put(bucket, csv_key, s3.get_bytes(bucket, csv_key).replace(b["package"]["sm3"].encode(), b"0" * 64))
    with pytest.raises(TransferError, match="归档目录清单"):
        Desk("430102001", tmp_path / "c-pc").pull(s3, bucket, bid, trust=anchors, seal_identity=identity)


RACES: list[dict] = []


@pytest.fixture(scope="module")
def racing(cloud, tmp_path_factory):
    """Four archived packages (one batch per race) and the institution's desk, made once for every race below."""
    tmp = tmp_path_factory.mktemp("races")
    svc = TransferService.from_cloud(cloud)
    desk = Desk("430102001", tmp / "a-pc")
    desk.init("芙蓉区行政审批服务局")
    if svc.aws.institutions.get("430102001") is None:  # run alone: register it; after the test above: a further certificate
        register(svc, "430102001", "芙蓉区行政审批服务局", certificates=[desk.cert_path.read_bytes()])
    else:
        svc.aws.institutions.add_certificate("430102001", desk.cert_path.read_bytes(), actor="管理员")
    return {"svc": svc, "desk": desk, "pool": archive(cloud, tmp, [983, 984, 985, 986])}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["accept", "return"]), min_size=2, max_size=4))
def test_racing_valid_replies_one_decides_the_others_are_refused_naming_it(cloud, racing, choices):
    """Issue 21: N valid, conflicting replies to one waiting batch arrive at once (hypothesis draws N and what each decides);
    the real reply machine, one execution per reply running in threads, takes exactly one and refuses the others (naming the
    one that decided, or the batch as decided), and the event log shows one taken reply."""
    svc, desk = racing["svc"], racing["desk"]
    if len(RACES) >= len(racing["pool"]):
        return
    package = racing["pool"][len(RACES)]
    RACES.append(package)
    s3, bucket, code = svc.aws.s3, cloud.name("TransferBucket"), package["record_code"]
    bid = svc.create(Selection(package_ids=(code,)), institution="430102001", transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    anchors = load_trust_anchors(DevPKI().ca_path)
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    desk.pull(s3, bucket, bid, trust=anchors, seal_identity=identity)
    desk.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
    drafts = [desk.reply(bid, receiver="王芳", returns={code: f"申请表扫描件模糊，请重新扫描后补正（第 {n} 份）"} if c == "return" else {})
              for n, c in enumerate(choices)]
    for document, _body, signature in drafts:
        key = desk.reply_key(bid, document["reply_id"])
        s3.put(bucket, key[:-5] + ".pdf", (desk.batch(bid) / f"reply-{document['reply_id']}.pdf").read_bytes())
        s3.put(bucket, key + ".p7s", signature)
    for document, body, _ in drafts:  # the JSON last, all at once: each starts its own run of the reply machine
        s3.put(bucket, desk.reply_key(bid, document["reply_id"]), body)
    found = verdicts(cloud, {d[0]["reply_id"] + ".json" for d in drafts})
    mine = {k: v for k, v in found.items() if v.get("batch_id") == bid}
    taken = [v for v in mine.values() if v["outcome"] == "taken"]
    assert len(mine) == len(drafts) and len(taken) == 1, mine
    winner = taken[0]["reply_id"]
    for v in mine.values():
        if v["outcome"] != "taken":
            assert v["outcome"] == "refused" and any(f"another reply decided this batch ({winner})" in p or "not waiting" in p
                                                     for p in v["problems"]), v
    decided = svc.take_reply(bid, actor="李敏")
    winning = next(d[0] for d in drafts if d[0]["reply_id"] == winner)
    assert decided["status"] == ("RETURNED" if winning["packages"][0]["outcome"] == "RETURNED" else "ACCEPTED")
    assert len([e for e in svc.aws.events.entries(f"batch#{bid}") if e["action"] == "reply-taken"]) == 1
    assert json.loads(s3.get_bytes(bucket, f"institutions/430102001/batches/{bid}/receipt.json"))["reply_id"] == winner
