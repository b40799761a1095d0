"""One printed list, two signatures (issue 10): the window certifies the form, the institution approves it.

Checked with pyHanko and with poppler's ``pdfsig``; a changed byte breaks them; the stamps' Chinese is
real text in a upem-1000 font; the two-step (UKey) path, KMS keys, and SM2's refusal.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from moto import mock_aws
from pypdf import PdfReader

from earchive.crypto import pdf_sign
from earchive.crypto.pki import DevPKI
from earchive.crypto.signers import make_signer
from earchive.domain.transfer_form import CHECK_ROWS, RECEIVER_FIELD, SENDER_FIELD, render

IDS = [f"430102-0102-430000000707-2026-Y-0000{i}" for i in range(3)]


def document(**extra):
    return {"batch_id": "202612010001", "institution_name": "长沙市芙蓉区档案馆", "transferor": "窗口经办人欧阳明月", "receiver": None,
            "transfer_date": "2026-12-01", "resubmits": None, **extra,
            "rows": [{"序号": 1, "批次编号": "202612010001", "办理事项名称": "企业设立登记", "事项类型": "行政权力事项",
                      "归档信息包数量": 3, "检测意见": "合格", "备注": ""}],
            "packages": [{"record_code": i, "project_id": f"P{n}", "task_name": "企业设立登记", "version": 1,
                          "digest": {"algorithm": "SM3", "value": f"{n:064x}"}, "sha256": "b" * 64, "size": 1_600_000} for n, i in enumerate(IDS)]}


@pytest.fixture(scope="module")
def certified(signer, tsa) -> bytes:
    form = render(document())
    return pdf_sign.certify(form.pdf, form.boxes, signer, tsa, note="共 3 件")


@pytest.fixture(scope="module")
def institution():
    return make_signer("dev:inst-a")


@pytest.fixture(scope="module")
def approved(certified, institution, tsa) -> bytes:
    return pdf_sign.approve(certified, institution, tsa, note="接收 3 件，退回 0 件")


def pdfsig(path: Path) -> str:
    if not shutil.which("pdfsig"):
        pytest.fail("pdfsig (poppler-utils) is missing: `make system-deps` installs it")
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


def pdftext(pdf: bytes, page: int) -> str:
    """The text of one page as poppler reads it, without line breaks (a cell may wrap)."""
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-", "-"], input=pdf, capture_output=True, timeout=60, check=True)
    return "".join(out.stdout.decode().split())


def test_the_form_has_the_list_the_register_and_the_digest_annex():
    """Table A.1, the 登记表 (header fields, five 检验 rows for both units, 填表人/审核人/单位 per unit) and each package's SM3."""
    form = render(document())
    pages = [pdftext(form.pdf, n) for n in range(1, len(PdfReader(io.BytesIO(form.pdf)).pages) + 1)]
    assert "政务服务电子档案移交清单" in pages[0]
    register = pages[1]
    for text in ("电子档案移交与接收登记表", "交接工作名称", "内容描述", "移交电子档案数量", "移交数据量", "0.005GB", "载体起止顺序号",
                 "移交载体类型、规格", "在线", *CHECK_ROWS, "填表人（签名）", "审核人（签名）", "单位（印章）"):
        assert text in register, text
    assert register.count("填表人（签名）") == 2, "one block for each unit"
    annex = "".join(pages[2:])
    assert "SM3" in annex and "GB/T32905" in annex and all(i in annex for i in IDS) and f"{2:064x}" in annex
    assert set(form.boxes) == {SENDER_FIELD, RECEIVER_FIELD} and {page for page, _ in form.boxes.values()} == {1}
    (_, a), (_, b) = form.boxes[SENDER_FIELD], form.boxes[RECEIVER_FIELD]
    assert a[2] < b[0], "the two stamp boxes do not overlap"


def test_both_signatures_validate_with_pyhanko(certified, approved, institution):
    assert approved.startswith(certified), "the approval is an incremental update: the window's bytes are unchanged"
    found = {v["field"]: v for v in pdf_sign.validate(approved, [DevPKI().ca_cert()])}
    sender, receiver = found[SENDER_FIELD], found[RECEIVER_FIELD]
    for v in (sender, receiver):
        assert v["intact"] and v["valid"] and v["trusted"] and v["timestamp_valid"] and v["signed_at"], v
    assert sender["modification_level"] == "FORM_FILLING" and sender["docmdp_ok"] is True
    assert receiver["signer_sha256"] == institution.certificate.fingerprint(hashes.SHA256()).hex()
    stamps = [v for v in found.values() if v["document_timestamp"]]
    assert len(stamps) == 1 and stamps[0]["intact"] and stamps[0]["valid"]
    assert pdf_sign.certification_problems(certified, [DevPKI().ca_cert()]) == []
    assert pdf_sign.approval_problems(certified, approved, [institution.certificate], [DevPKI().ca_cert()]) == []


def test_both_signatures_validate_with_pdfsig(approved, tmp_path):
    path = tmp_path / "signed.pdf"
    path.write_bytes(approved)
    out = pdfsig(path)
    assert out.count("Signature is Valid.") == 2, out
    assert f"Signature Field Name: {SENDER_FIELD}" in out and f"Signature Field Name: {RECEIVER_FIELD}" in out
    assert "ETSI.CAdES.detached" in out and "开发用" in out, "PAdES, and the Chinese names read back"


def test_one_changed_byte_breaks_them(certified, approved, institution, tmp_path):
    i = 2000  # inside the first revision, before any signature's /Contents: covered by both signatures
    tampered = bytearray(approved)
    tampered[i] ^= 0x01
    found = {v["field"]: v for v in pdf_sign.validate(bytes(tampered), [DevPKI().ca_cert()])}
    assert not (found[SENDER_FIELD].get("intact") and found[SENDER_FIELD].get("valid"))
    assert pdf_sign.approval_problems(certified, bytes(tampered), [institution.certificate]) != []
    path = tmp_path / "tampered.pdf"
    path.write_bytes(bytes(tampered))
    assert pdfsig(path).count("Signature is Valid.") < 2


def test_an_approval_by_another_key_or_a_later_change_is_named(certified, approved, tsa):
    other = pdf_sign.approve(certified, make_signer("dev:inst-b"), tsa)
    problems = pdf_sign.approval_problems(certified, other, [make_signer("dev:inst-a").certificate])
    assert any("not by a certificate registered" in p for p in problems)
    assert pdf_sign.approval_problems(certified[:-10] + b"0000000000", approved, []) != [], "another certified list"
    assert pdf_sign.approval_problems(certified, b"%PDF-1.7 not this", []) != []
    unapproved = pdf_sign._document_timestamp(certified, tsa)  # a document timestamp, but no approval
    assert any("expected SenderSig and ReceiverSig" in p for p in pdf_sign.approval_problems(certified, unapproved, []))


def test_the_stamps_are_chinese_text_in_a_upem_1000_font(approved):
    """pyHanko writes widths in font units: only a upem-1000 face spaces CJK right (interface-notes §3.1); the text reads back."""
    from fontTools.ttLib import TTFont

    assert TTFont(str(pdf_sign.stamp_font()))["head"].unitsPerEm == 1000
    text = pdftext(approved, 2)
    assert "移交单位数字签章（系统签章）" in text and "接收单位数字签章（系统签章）" in text and "接收3件，退回0件" in text


def test_two_step_signing_for_a_ukey(certified, institution, tsa):
    """Step one yields the bytes to sign and keeps no key; the signature is made elsewhere; step two embeds it."""
    pending = pdf_sign.prepare(certified, institution.certificate, institution.chain, institution.signature_algorithm, note="UKey")
    assert b"PRIVATE KEY" not in repr(pending.state).encode()
    value = institution.sign(pending.to_sign)  # what the UKey or the e-seal service does with the bytes
    signed = pdf_sign.finish(pending, value, tsa)
    assert pdf_sign.approval_problems(certified, signed, [institution.certificate]) == []
    assert "外部签章设备" in pdftext(signed, 2)
    bad = pdf_sign.finish(pending, bytes(len(value)), tsa)
    assert pdf_sign.approval_problems(certified, bad, [institution.certificate]) != []


@mock_aws
def test_a_kms_key_certifies_the_list(tsa):
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    signer = make_signer(f"kms:{key_id}", kms_client=kms)
    form = render(document())
    signed = pdf_sign.certify(form.pdf, form.boxes, signer, tsa)
    assert pdf_sign.certification_problems(signed, [DevPKI().ca_cert()]) == []


def test_pyhanko_cannot_make_sm2_pdf_signatures(tsa):
    form = render(document())
    with pytest.raises(Exception, match="pyHanko cannot make SM2 PDF signatures"):
        pdf_sign.certify(form.pdf, form.boxes, make_signer("local-sm2"), tsa)


@pytest.mark.parametrize("transferor,receiver", [("李敏", "王芳"),
                                                 ("长沙市芙蓉区政务服务中心综合窗口首席代办员欧阳明月同志", "芙蓉区档案馆电子档案接收组组长司马相如")])
def test_nothing_on_the_register_overlaps_and_no_name_runs_into_a_stamp_box(tmp_path, transferor, receiver):
    """The 登记表's lines at any name length: no two strings touch, and no text enters either signature box."""
    from tests.unit.test_printed_lists import overlaps, text_runs

    form = render(document(transferor=transferor, receiver=receiver))
    path = tmp_path / "form.pdf"
    path.write_bytes(form.pdf)
    runs = [r for r in text_runs(path) if r["page"] == 1]
    assert runs and overlaps(runs) == []
    height = 595.28  # A4 landscape, points
    for _, (x1, y1, x2, y2) in form.boxes.values():
        assert x2 - x1 > 150 and y2 - y1 > 100, "a stamp box of about 70 × 44 mm"
        inside = [r["text"] for r in runs if r["x"] < x2 and r["x"] + r["width"] > x1 and y1 < height - r["y"] < y2]
        assert inside == [], f"text in a stamp box: {inside}"
    assert any(transferor[:6] in r["text"] for r in runs)


def test_a_certified_list_changed_in_a_later_revision_is_not_the_archives(certified):
    """A review finding: a page swapped in an incremental update after the certification must not pass as the archive's list."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(certified))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 72 Td (forged) Tj ET"))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    problems = pdf_sign.certification_problems(out.getvalue(), [DevPKI().ca_cert()])
    assert any("changed after it was certified" in p for p in problems), problems


def test_decide_takes_only_the_bytes_that_were_verified():
    """A review finding: a reply overwritten between the check and Decide is not published as the receipt."""
    from earchive.errors import TransferError
    from earchive.pipeline.transfer.decide import _verified_bytes

    class S3:
        def __init__(self, objects):
            self.objects = objects

        def get_bytes(self, bucket, key):
            return self.objects.get(key)

    class Aws:
        def __init__(self, objects):
            self.s3 = S3(objects)

    sha = lambda b: hashlib.sha256(b).hexdigest()
    reply = {"key": "r.json", "pdf": "r.pdf", "sha256": {"json": sha(b"J"), "p7s": sha(b"S"), "pdf": sha(b"P")}}
    assert _verified_bytes(Aws({"r.json": b"J", "r.json.p7s": b"S", "r.pdf": b"P"}), "b", reply) == (b"J", b"S", b"P")
    for swapped in ({"r.json": b"J2", "r.json.p7s": b"S", "r.pdf": b"P"}, {"r.json": b"J", "r.json.p7s": b"S", "r.pdf": b"P2"},
                    {"r.json": b"J", "r.pdf": b"P"}):
        with pytest.raises(TransferError, match="nothing was recorded"):
            _verified_bytes(Aws(swapped), "b", reply)
