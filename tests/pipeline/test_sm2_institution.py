"""An SM2-only institution from key to decided list (issue 23 items 2 and 5): `receive init --sm2` makes its key and CSR, an
OpenSSL 国密 CA issues the certificate, `receive init --cert --chain` installs it, `institution add --cert --chain` registers
it, `receive reply` signs the reply with SM2 (approval sm2-reply: no PDF signature), the reply machine verifies and takes it,
and the decided list the window exports shows the approval as an annex."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess

import pytest
from cryptography import x509

from earchive.check import CheckOptions
from earchive.cli import _seal_identity, main
from earchive.client import TransferService
from earchive.crypto.cms import digest
from earchive.crypto.identity import fingerprint
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.domain.transfer import Selection
from earchive.receive import Desk
from earchive_devtools.localcloud import LocalCloud
from tests.pipeline.test_reply_machine import verdicts
from tests.pipeline.test_transfer import archive
from tests.unit.test_institution_keys import ca_signs, gm_ca  # noqa: F401 - the OpenSSL SM2 CA fixture

pytestmark = pytest.mark.slow  # the local cloud, the transfer and reply machines

CODE, NAME = "430111001", "长沙市雨花区行政审批服务局"


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def test_an_sm2_institution_replies_through_the_cli_and_the_window_takes_its_sm2_approval(cloud, gm_ca, tmp_path, capsys,  # noqa: F811
                                                                                         monkeypatch):
    import earchive.client as client

    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    svc = TransferService.from_cloud(cloud)
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")
    (a,) = archive(cloud, tmp_path, [991])

    # the institution's PC: an SM2 key and CSR; its 国密 CA (OpenSSL) issues the certificate; installed beside the key
    assert main(["receive", "init", "--institution", CODE, "--name", NAME, "--sm2", "--csr", str(tmp_path / "req.csr")]) == 0
    ca_signs(gm_ca, tmp_path / "req.csr", tmp_path / "issued.pem")
    assert main(["receive", "init", "--institution", CODE, "--cert", str(tmp_path / "issued.pem"), "--chain", str(gm_ca / "ca.pem")]) == 0
    issued = x509.load_pem_x509_certificate((tmp_path / "issued.pem").read_bytes())
    # the archive registers it with its SM2 CA's chain (SM3withSM2, checked) and the institution's competence
    assert main(["institution", "add", CODE, "--name", NAME, "--cert", str(tmp_path / "issued.pem"), "--chain", str(gm_ca / "ca.pem"),
                 "--region", "430000", "--actor", "管理员"]) == 0
    shown = capsys.readouterr().out
    assert "SM2" in shown and "签发者" in shown and "Test SM2 CA" in shown
    record = svc.aws.institutions.get(CODE)["certificates"][0]
    assert record["key"] == "SM2" and record["sha256"] == fingerprint(issued) and len(record["chain"]) == 1

    bid = svc.create(Selection(package_ids=(a["record_code"],)), institution=CODE, transferor="李敏")["batch_id"]
    svc.submit(bid, actor="李敏")
    svc.wait_for_decision(bid)
    desk = Desk(CODE)
    anchors = load_trust_anchors(DevPKI().ca_path)
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
    desk.pull(s3, bucket, bid, trust=anchors, seal_identity=identity)
    desk.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
    certified = (desk.batch(bid) / "transfer-list.pdf").read_bytes()

    assert main(["receive", "reply", bid, "--institution", CODE, "--receiver", "王芳", "--accept-all"]) == 0
    reply_id = capsys.readouterr().out.split("reply ", 1)[1].split()[0]
    document = json.loads((desk.batch(bid) / f"reply-{reply_id}.json").read_bytes())
    assert document["approval"] == "sm2-reply" and document["signer_certificate_sha256"] == fingerprint(issued)
    assert document["list_pdf_sha256"] == hashlib.sha256(certified).hexdigest() and document["list_pdf_sm3"] == digest("sm3", certified).hex()
    replies = f"institutions/{CODE}/replies/{bid}/"
    assert not (desk.batch(bid) / f"reply-{reply_id}.pdf").exists() and s3.get_bytes(bucket, replies + reply_id + ".pdf") is None

    found = verdicts(cloud, {reply_id + ".json"})
    assert found[reply_id + ".json"]["outcome"] == "taken", found
    decided = svc.take_reply(bid, actor="李敏")
    assert decided["status"] == "ACCEPTED"
    base = f"institutions/{CODE}/batches/{bid}/"
    assert s3.get_bytes(bucket, base + "receipt.json") == (desk.batch(bid) / f"reply-{reply_id}.json").read_bytes()
    assert s3.get_bytes(bucket, base + "transfer-list.signed.pdf") is None, "no PDF approval: the reply is the approval"

    out = tmp_path / "export"
    svc.export(bid, out)
    view = json.loads((out / f"移交清单-{bid}.json").read_bytes())
    assert view["receiver_approval"] == {"form": "sm2-reply", "reply_id": reply_id, "signer": issued.subject.rfc4514_string(),
                                         "certificate_sha256": fingerprint(issued), "list_pdf_sha256": hashlib.sha256(certified).hexdigest(),
                                         "list_pdf_sm3": digest("sm3", certified).hex()}
    text = "".join(subprocess.run(["pdftotext", str(out / f"移交清单-{bid}.pdf"), "-"], capture_output=True, text=True, timeout=60,
                                  check=True).stdout.split())
    for shown in ("附件：接收方以SM2数字签名回执确认", reply_id, fingerprint(issued), hashlib.sha256(certified).hexdigest(),
                  digest("sm3", certified).hex(), "以SM2数字签名回执确认（见附件）"):
        assert shown in text, shown
    assert (out / "transfer-list.pdf").read_bytes() == certified, "the list the window certified, whose digests the reply names"
