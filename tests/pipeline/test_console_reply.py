"""The receiver's reply signed outside the server (issue 11): the console prepares, the browser's key signs, the window verifies.

The browser's part is played here by the institution's key file and WebCrypto's signature form (raw r‖s over the
bytes given, SHA-256 inside), so each server step is seen on its own: a certificate not registered is refused
before anything is drafted, a value made by another key is refused, a retry answers what was sent, another user
cannot continue someone's session. The reply machine takes the reply as any other; its CMS verifies with
`openssl cms -verify` and the final printed list carries two valid signatures for pdfsig; the document has the
very shape of one made by `earchive receive reply`, so the window cannot tell which way it came.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from earchive.check import CheckOptions
from earchive.cli import _seal_identity
from earchive.client import TransferService
from earchive.console.desk import Desk as ConsoleDesk
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.domain.transfer import Selection
from earchive.errors import ConflictError, UsageError
from earchive.receive import Desk
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from tests.pipeline.test_reply_machine import verdicts
from tests.pipeline.test_transfer import archive

pytestmark = pytest.mark.slow  # the local cloud, the transfer and reply machines


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def webcrypto_sign(key_pem: bytes, data_b64: str) -> str:
    """What the page's `crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key, data)` returns: r‖s, 32 bytes each."""
    key = serialization.load_pem_private_key(key_pem, None)
    r, s = decode_dss_signature(key.sign(base64.b64decode(data_b64), ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


def test_a_reply_signed_in_two_steps_outside_the_server_is_taken_and_looks_like_the_clis(cloud, tmp_path):
    svc = TransferService.from_cloud(cloud)
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    a, b = archive(cloud, tmp_path, [991, 992])
    pc, stranger = Desk("430102001", tmp_path / "institution-pc"), Desk("430103001", tmp_path / "other-pc")
    register(svc, certificates=[pc.init("芙蓉区行政审批服务局").read_bytes()])
    bid = svc.create(Selection(package_ids=(a["record_code"], b["record_code"])), institution="430102001",
                     institution_name="芙蓉区行政审批服务局", transferor="李敏")["batch_id"]
    stranger.init("天心区行政审批服务局")
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    console = ConsoleDesk(cloud.settings(), aws=svc.aws)
    batch = svc.transfers.batch(bid)
    view = console.inbox_view(batch)
    assert view["waiting"] and view["printed_list"] and [p["checked"] for p in view["packages"]] == [True, True]
    assert console.inbox_file(batch, a["record_code"], "report").startswith("http"), "the 接收检测 report opens from the page"

    cert, key = pc.cert_path.read_text(), pc.key_path.read_bytes()
    returns = {b["record_code"]: "申请表扫描件模糊，无法辨认签字，请重新扫描后移交"}
    with pytest.raises(UsageError, match="not a certificate registered"):
        console.reply_begin("receiver-sub", batch, {"receiver": "张伟", "returns": returns, "certificate": stranger.cert_path.read_text()})
    with pytest.raises(UsageError, match="10–1300"):
        console.reply_begin("receiver-sub", batch, {"receiver": "张伟", "returns": {b["record_code"]: "模糊"}, "certificate": cert})

    with pytest.raises(UsageError, match="awaits no decision"):
        console.reply_begin("receiver-sub", {**batch, "status": "ACCEPTED"}, {"receiver": "张伟", "returns": returns, "certificate": cert})
    real_checks = console.receiving._checks
    console.receiving._checks = lambda bid: {k: v for k, v in real_checks(bid).items() if k != a["record_code"]}
    with pytest.raises(UsageError, match=f"{a['record_code']} 尚未完成接收检测"):  # a copy never checked is not the clerk's to fix
        console.reply_begin("receiver-sub", batch, {"receiver": "张伟", "returns": returns, "certificate": cert})
    console.receiving._checks = real_checks

    step = console.reply_begin("receiver-sub", batch, {"receiver": "张伟", "returns": returns, "certificate": cert})
    assert step["step"] == "pdf", "the printed list's approval is signed first"
    draft = json.loads(base64.b64decode(step["document"]))
    assert draft["batch_id"] == bid and {p["package_id"]: p["outcome"] for p in draft["packages"]} == {
        a["record_code"]: "ACCEPTED", b["record_code"]: "RETURNED"}, "the page sees the draft before the key signs anything"
    with pytest.raises(UsageError, match="另一个批次"):
        console.reply_sign("receiver-sub", {**batch, "batch_id": "202612019999"}, step["session"], {"step_token": step["step_token"],
                                                                                                      "signature": webcrypto_sign(key, step["to_sign"])})
    with pytest.raises(UsageError, match="does not verify"):
        console.reply_sign("receiver-sub", batch, step["session"], {"step_token": step["step_token"],
                                                                    "signature": webcrypto_sign(stranger.key_path.read_bytes(), step["to_sign"])})
    with pytest.raises(UsageError, match="no such session"):
        console.reply_sign("someone-else", batch, step["session"], {"step_token": step["step_token"],
                                                                    "signature": webcrypto_sign(key, step["to_sign"])})
    pdf_token = step["step_token"]
    step = console.reply_sign("receiver-sub", batch, step["session"], {"step_token": pdf_token, "signature": webcrypto_sign(key, step["to_sign"])})
    assert step["step"] == "reply"
    first = step
    assert console.reply_sign("receiver-sub", batch, first["session"], {"step_token": pdf_token, "signature": "AA=="}) == first, \
        "the pdf step's answer lost and asked again (with its token): the same answer, nothing signed twice"
    with pytest.raises(ConflictError):
        console.reply_sign("receiver-sub", batch, step["session"], {"step_token": "0" * 32, "signature": webcrypto_sign(key, step["to_sign"])})
    reply_doc = base64.b64decode(step["document"])
    assert hashlib.sha256(reply_doc).digest() in base64.b64decode(step["to_sign"]), "the reply's attributes sign the very bytes shown"
    sent = console.reply_sign("receiver-sub", batch, step["session"], {"step_token": step["step_token"],
                                                                       "signature": webcrypto_sign(key, step["to_sign"])})
    assert sent["step"] == "sent" and sent["outcomes"] == {a["record_code"]: "ACCEPTED", b["record_code"]: "RETURNED"}
    again = console.reply_sign("receiver-sub", batch, step["session"], {"step_token": "stale", "signature": "AA=="})
    assert again == sent, "a retry after a lost answer gets what was sent; nothing is sent twice"
    with pytest.raises(UsageError, match="已在浏览器中签署并发送回执"):
        console.reply_begin("receiver-sub", batch, {"receiver": "张伟", "returns": {}, "certificate": cert})

    found = verdicts(cloud, {sent["reply_id"] + ".json"})
    assert found[sent["reply_id"] + ".json"]["outcome"] == "taken", found
    decided = svc.take_reply(bid, actor="李敏")
    assert decided["status"] == "PARTLY_RETURNED"
    assert {p["package_id"]: p.get("return_reason") for p in svc.transfers.packages(bid)}[b["record_code"]] == returns[b["record_code"]]
    shown = console.inbox_view(svc.transfers.batch(bid))  # the receiver's page after the decision (N2)
    assert shown["decision"]["outcome"] == "部分退回：接收 1 件，退回 1 件" and shown["decision"]["both_signed"]
    assert {p["record_code"]: (p["decision_zh"], p["reason"]) for p in shown["packages"]} == {
        a["record_code"]: ("接收", ""), b["record_code"]: ("退回", returns[b["record_code"]])}
    assert all(r["检测意见"] != "待检测" for r in shown["rows"]), "Table A.1 as recorded at the decision"

    body, p7s = s3.get_bytes(bucket, sent["key"]), s3.get_bytes(bucket, sent["key"] + ".p7s")
    (tmp_path / "reply.json").write_bytes(body)
    (tmp_path / "reply.p7s").write_bytes(p7s)
    ok = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "reply.p7s"), "-content",
                         str(tmp_path / "reply.json"), "-CAfile", str(pc.cert_path), "-purpose", "any", "-out", "/dev/null"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "Verification successful" in ok.stderr, ok.stderr
    from earchive.crypto.cades import signature_timestamp

    stamped_at, problems = signature_timestamp(p7s, [DevPKI().ca_cert()])  # added by the console (the stack's TSA), no key needed
    assert problems == [] and stamped_at is not None, problems
    final = tmp_path / "final.pdf"
    final.write_bytes(s3.get_bytes(bucket, f"institutions/430102001/batches/{bid}/transfer-list.signed.pdf"))
    assert shutil.which("pdfsig"), "poppler-utils is installed by `make system-deps`"
    assert subprocess.run(["pdfsig", str(final)], capture_output=True, text=True, timeout=60).stdout.count("Signature is Valid.") == 2

    # the same batch answered by `earchive receive` on the institution's machine: the same document, field for field
    anchors = load_trust_anchors(DevPKI().ca_path)
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    pc.pull(s3, bucket, bid, trust=anchors, seal_identity=identity)
    pc.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
    cli, _, _ = pc.reply(bid, receiver="张伟", returns=returns)
    browser = json.loads(body)
    assert sorted(browser) == sorted(cli) and [sorted(p) for p in browser["packages"]] == [sorted(p) for p in cli["packages"]]
    same = ("version", "batch_id", "institution", "list_sha256", "receiver", "list_pdf_sha256")
    assert {k: browser[k] for k in same} == {k: cli[k] for k in same}
    assert [(p["package_id"], p["outcome"], p.get("reason"), p["failed_tests"]) for p in browser["packages"]] == \
           [(p["package_id"], p["outcome"], p.get("reason"), p["failed_tests"]) for p in cli["packages"]]
