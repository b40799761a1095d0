"""An SM2-only institution approves the printed list by its SM2-signed reply (issue 23 item 5, ADR 0012): the window's rules
for that form, and the decided list's annex saying exactly what was established (PDF via pdftotext, XLSX, JSON)."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess

import pytest
from cryptography import x509
from openpyxl import load_workbook

from earchive.crypto import institution_keys
from earchive.crypto.cms import digest, signed_data
from earchive.crypto.signers import make_signer
from earchive.domain import reply as replies
from earchive.domain.exports import transfer_list_xlsx
from earchive.domain.final import final_list
from earchive.domain.institution import certificate_record, key_algorithm
from earchive.domain.transfer_form import SM2_SIGNED, render
from tests.unit.test_two_signatures import IDS, document

CERTIFIED = b"%PDF-1.7 the list the window certified"


@pytest.fixture(scope="module")
def sm2_desk(tmp_path_factory):
    from earchive.receive import Desk

    desk = Desk("430102001", tmp_path_factory.mktemp("sm2-pc"))
    desk.init("芙蓉区行政审批服务局", sm2=True)
    return desk


@pytest.fixture(scope="module")
def listing():
    return {**document(), "institution": "430102001"}


def institution(*pems: bytes) -> dict:
    return {"code": "430102001", "status": "ACTIVE", "certificates": [certificate_record(p) for p in pems]}


def reply_of(listing: dict, key, certified: bytes = CERTIFIED, **changes) -> dict:
    doc = replies.build(listing, "a" * 64, receiver="王芳", checks={i: {"passed": True, "failed": [], "checked_at": "x"} for i in IDS},
                        returns={})
    return {**replies.sm2_approval(doc, certified, key.certificate), **changes}


def window(listing: dict, doc: dict, signer, registered: dict, replied_pdf: bytes | None = None, certified: bytes | None = CERTIFIED):
    from earchive.crypto.cades import add_signature_timestamp
    from earchive.crypto.signers import make_tsa

    body = replies.encode(doc)
    signature = add_signature_timestamp(signed_data(signer, content=body).dump(), make_tsa("local"))  # as every reply (CAdES-T)
    return replies.check(body, signature, institution=registered, listing=listing, list_sha256="a" * 64,
                         used_reply_ids=set(), at=dt.datetime.now(dt.UTC), certified_pdf=certified, replied_pdf=replied_pdf)


def test_the_sm2_reply_approves_the_certified_list_and_nothing_else(sm2_desk, listing):
    signer = sm2_desk.signer()
    assert signer.signature_algorithm == "sm2_sm3"
    registered = institution(sm2_desk.cert_path.read_bytes())
    assert registered["certificates"][0]["key"] == "SM2"
    doc = reply_of(listing, signer)
    assert doc["approval"] == "sm2-reply" and doc["list_pdf_sha256"] == hashlib.sha256(CERTIFIED).hexdigest()
    assert doc["list_pdf_sm3"] == digest("sm3", CERTIFIED).hex() and doc["signer_certificate_sha256"] == registered["certificates"][0]["sha256"]
    assert window(listing, doc, signer, registered) == []

    wrong = {
        "another list (SM3)": (reply_of(listing, signer, list_pdf_sm3="0" * 64), None, "another printed list"),
        "another list (SHA-256)": (reply_of(listing, signer, b"%PDF older"), None, "another printed list"),
        "another signer named": (reply_of(listing, signer, signer="CN=someone else"), None, "names another signer"),
        "a PDF beside it as well": (reply_of(listing, signer), b"%PDF signed", "one approval, one form"),
        "an unknown form": (reply_of(listing, signer, approval="seal-on-paper"), None, "not a form the archive takes"),
    }
    for what, (doc_, pdf, expected) in wrong.items():
        found = window(listing, doc_, signer, registered, replied_pdf=pdf)
        assert any(expected in p for p in found), f"{what}: {found}"
    assert any("certified none" in p for p in window(listing, doc, signer, registered, certified=None)), "no printed list to approve"


def test_the_sm2_form_is_refused_from_a_key_that_can_sign_the_pdf(listing):
    """An ECDSA institution approves the printed list with its PAdES signature: its reply saying sm2-reply is refused by name."""
    signer = make_signer("dev:inst-ec")
    registered = institution(signer.certificate.public_bytes(_pem()))
    assert key_algorithm(signer.certificate) == "ECDSA"
    found = window(listing, reply_of(listing, signer), signer, registered)
    assert any("taken only from an institution's SM2 certificate" in p for p in found), found
    plain = replies.build(listing, "a" * 64, receiver="王芳", checks={i: {"passed": True} for i in IDS}, returns={})
    assert any("no signed printed list" in p or "another printed list" in p for p in window(listing, plain, signer, registered)), \
        "and without any approval, the PAdES one is still required"


def test_the_decided_list_shows_the_sm2_approval_as_an_annex(sm2_desk, listing, tmp_path):
    signer = sm2_desk.signer()
    doc = reply_of(listing, signer)
    final = final_list(listing, doc)
    approval = final["receiver_approval"]
    assert approval == {"form": "sm2-reply", "reply_id": doc["reply_id"], "signer": signer.certificate.subject.rfc4514_string(),
                        "certificate_sha256": doc["signer_certificate_sha256"], "list_pdf_sha256": doc["list_pdf_sha256"],
                        "list_pdf_sm3": doc["list_pdf_sm3"]}
    text = pdftext(render(final).pdf)
    for shown in ("附件：接收方以SM2数字签名回执确认", doc["reply_id"], doc["signer_certificate_sha256"], doc["list_pdf_sha256"],
                  doc["list_pdf_sm3"], "回执编号", "签名人", "证书SHA-256", "清单SHA-256", "清单SM3", "芙蓉区行政审批服务局",
                  "".join(SM2_SIGNED.split()), "本打印件本身未签名"):
        assert shown in text, shown
    assert "分别以数字签名签署（PAdES）" not in text and "见右侧数字签章" in text, "the window's PAdES stamp only; the receiver's is the reply"
    assert "SM2签名回执，见附件" in text
    without = pdftext(render(final_list(listing, {k: v for k, v in doc.items() if k != "approval"})).pdf)
    assert "附件：接收方以SM2" not in without and "已数字签章" in without, "a PAdES-approved list says what it said before"
    sheet = load_workbook(transfer_list_xlsx(final, tmp_path / "list.xlsx"))["接收方SM2签名回执确认"]
    values = {r[0]: r[1] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["回执编号"] == doc["reply_id"] and values["清单 SM3"] == doc["list_pdf_sm3"]


def test_an_sm2_certificate_and_its_gm_chain_are_registered(sm2_desk):
    leaf, issuer = x509.load_pem_x509_certificates(sm2_desk.cert_path.read_bytes())
    record = certificate_record(leaf.public_bytes(_pem()), issuer.public_bytes(_pem()))
    assert record["key"] == "SM2" and record["issuer"] == issuer.subject.rfc4514_string() and len(record["chain"]) == 1
    _, _, others = institution_keys.sm2_key_and_certificates("另一单位", "430103001")
    with pytest.raises(Exception, match="does not certify"):
        certificate_record(leaf.public_bytes(_pem()), x509.load_pem_x509_certificates(others)[1].public_bytes(_pem()))


def pdftext(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, timeout=60, check=True)
    return "".join(out.stdout.decode().split())


def _pem():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM





def test_a_guomi_stack_takes_sm2_replies_only(sm2_desk, listing, monkeypatch):
    """ADR 0020: under the 国密 profile an ECDSA-signed reply is refused by name, and the browser (no SM2 in WebCrypto) says so."""
    from earchive.console.receiving import certificate_of
    from earchive.crypto.cades import add_signature_timestamp
    from earchive.crypto.signers import make_tsa
    from earchive.errors import UsageError

    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "standard")
    ecdsa = make_signer("dev:inst-ec2")  # an institution's own ECDSA key (under the 国密 profile dev:NAME would be SM2)
    ecdsa_doc = replies.build(listing, "a" * 64, receiver="王芳", checks={i: {"passed": True} for i in IDS}, returns={})
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "guomi")
    found = window(listing, ecdsa_doc, ecdsa, institution(ecdsa.certificate.public_bytes(_pem())), certified=None)
    assert any("国密配置要求接收单位以 SM2 密钥签署回执" in p for p in found), found
    signer = sm2_desk.signer()
    registered = institution(sm2_desk.cert_path.read_bytes())
    assert window(listing, reply_of(listing, signer), signer, registered) == []
    body = replies.encode(reply_of(listing, signer))  # an SM2 reply stamped by an ECDSA TSA (on a standard machine): not 国密 throughout
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "standard")
    signature = add_signature_timestamp(signed_data(signer, content=body).dump(), make_tsa("local-ec"))
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "guomi")
    found = replies.check(body, signature, institution=registered, listing=listing, list_sha256="a" * 64, used_reply_ids=set(),
                          at=dt.datetime.now(dt.UTC), certified_pdf=CERTIFIED)
    assert any("国密配置要求 SM2 时间戳" in p for p in found), found
    with pytest.raises(UsageError, match="国密配置"):
        certificate_of(ecdsa.certificate.public_bytes(_pem()).decode())
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "standard")
    with pytest.raises(UsageError, match="ECDSA P-256"):  # an SM2 certificate in the browser: a named refusal, never a 500
        certificate_of(sm2_desk.cert_path.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")


def test_the_printed_date_of_decision_is_bound_to_the_signature_timestamp(sm2_desk, listing):
    """接收日期 is printed from decided_at: a date the TSA's time contradicts (years before, or later) is refused by name."""
    signer = sm2_desk.signer()
    registered = institution(sm2_desk.cert_path.read_bytes())
    for when in ("2020-01-01T00:00:00+08:00", (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(timespec="seconds")):
        found = window(listing, reply_of(listing, signer, decided_at=when), signer, registered)
        assert any("接收日期与签名时间戳不符" in p for p in found), (when, found)
