"""The 国密 profile's core (issue 23 items 1 and 3): SM2 chains, the SM3-manifest seal, SM3 timestamps, one setting.

Outside implementations (Bouncy Castle, OpenSSL) judge the same artefacts in tests/unit/test_guomi_interop.py.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from earchive.check import check_package
from earchive.check.report import to_json
from earchive.cli import main
from earchive.crypto import sm2
from earchive.crypto.cms import UNSUPPORTED, signed_data, verify_chain, verify_signed_data
from earchive.crypto.gm_pki import ROOT_CN, GmDevPKI
from earchive.crypto.pki import DevPKI
from earchive.crypto.signers import make_signer, make_tsa, require_profile
from earchive.crypto.timestamp import LocalTSA, timestamp, verify_timestamp
from earchive.domain.layout import GM_SIGNATURE, GM_TIMESTAMP, MANIFEST_SHA256, MANIFEST_SM3, SIGNATURE
from earchive.domain.pack import pack
from earchive.domain.seal import parse_manifest
from earchive.errors import EarchiveError
from earchive_devtools.sample import sample_case


@pytest.fixture
def guomi(monkeypatch):
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "guomi")


def test_the_development_sm2_chain_is_sm3withsm2_from_leaf_to_root():
    gm = GmDevPKI()
    signer = make_signer("local-sm2")
    assert [c.signature_algorithm_oid.dotted_string for c in [signer.certificate, *signer.chain]] == [sm2.SIGN_OID] * 3
    root = gm.root_cert()
    assert root.subject == root.issuer and sm2.certificate_signature_problem(root, root) is None
    assert verify_chain(signer.certificate, signer.chain, [root], dt.datetime.now(dt.UTC)) == []
    # the intermediate may not be skipped, and another SM2 root is not this one
    assert "no trusted issuer" in verify_chain(signer.certificate, [], [root], dt.datetime.now(dt.UTC))[0]
    other = sm2.generate_private_key()
    stranger = sm2.issue_certificate(sm2.public_key_hex(other), ROOT_CN, other, None, is_ca=True)  # same name, another key
    assert stranger.subject == root.subject
    errors = verify_chain(signer.certificate, [signer.chain[0]], [stranger], dt.datetime.now(dt.UTC))
    assert len(errors) == 1 and errors[0].startswith("no trusted issuer for CN=earchive 开发用国密中级"), errors


def test_an_sm2_ca_limits_its_path_and_must_be_a_ca():
    root_key, mid_key, leaf_key = (sm2.generate_private_key() for _ in range(3))
    root = sm2.issue_certificate(sm2.public_key_hex(root_key), "r", root_key, None, is_ca=True, path_length=0)
    mid = sm2.issue_certificate(sm2.public_key_hex(mid_key), "m", root_key, root, is_ca=True, path_length=0)
    leaf = sm2.issue_certificate(sm2.public_key_hex(leaf_key), "l", mid_key, mid)
    errors = verify_chain(leaf, [mid], [root], dt.datetime.now(dt.UTC))
    assert any("allows 0 CA(s) below it" in e for e in errors), errors
    not_ca = sm2.issue_certificate(sm2.public_key_hex(mid_key), "m", root_key, root)  # an end-entity posing as an issuer
    leaf2 = sm2.issue_certificate(sm2.public_key_hex(leaf_key), "l", mid_key, not_ca)
    assert any("is not a CA" in e for e in verify_chain(leaf2, [not_ca], [root], dt.datetime.now(dt.UTC)))


def test_an_algorithm_nobody_here_knows_is_a_named_chain_error_not_an_exception():
    """D1: before, cryptography's UnsupportedAlgorithm escaped and voided every test of the package."""
    pki = DevPKI()
    leaf = ax509.Certificate.load(pki.pair("signer-ec").cert.public_bytes(serialization.Encoding.DER))
    gost = ax509.Certificate({"tbs_certificate": ax509.TbsCertificate.load(leaf["tbs_certificate"].dump()),
                              "signature_algorithm": {"algorithm": "1.2.643.7.1.1.3.2"}, "signature_value": b"\x01" * 64})
    tbs = gost["tbs_certificate"]
    tbs["signature"] = {"algorithm": "1.2.643.7.1.1.3.2"}
    errors = verify_chain(x509.load_der_x509_certificate(gost.dump()), [], [pki.ca_cert()], dt.datetime.now(dt.UTC))
    assert len(errors) == 1 and errors[0].startswith(UNSUPPORTED), errors


def test_a_guomi_package_signs_the_sm3_manifest_and_the_check_names_the_profile(tmp_path, guomi):
    result = pack(sample_case(tmp_path / "c", seed=61).folder, tmp_path / "o", signer=make_signer(), tsa=make_tsa())
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
        sm3_lines = dict((p, d) for d, p in parse_manifest(zf.read(MANIFEST_SM3)))
        signature, token, manifest = zf.read(GM_SIGNATURE), zf.read(GM_TIMESTAMP), zf.read(MANIFEST_SM3)
    assert SIGNATURE not in names and MANIFEST_SHA256 in sm3_lines, "the signed SM3 manifest covers the SHA-256 one"
    check = verify_signed_data(cms.ContentInfo.load(signature), [GmDevPKI().root_cert()], content=manifest)
    assert check.ok and check.algorithm == "sm2_sm3/sm3", check.errors + check.chain_errors
    stamp = verify_timestamp(signature, token, [GmDevPKI().root_cert()])
    assert stamp.ok and stamp.algorithm == "sm2_sm3/sm3", stamp.errors + stamp.chain_errors
    report = check_package(result.path)
    assert report.passed and report.crypto_profile == "guomi", [r.as_dict() for r in report.failures]
    seal = next(r for r in report.results if r.id == "GD-1-1-2")
    assert "国密" in seal.detail and MANIFEST_SM3 in seal.detail


def test_an_sm2_seal_with_an_ecdsa_tsa_is_named_for_what_it_is(tmp_path):
    result = pack(sample_case(tmp_path / "c", seed=62).folder, tmp_path / "o", signer=make_signer("local-sm2"), tsa=make_tsa("local"))
    report = check_package(result.path)
    assert report.passed and report.crypto_profile == "guomi-seal"
    assert json.loads(to_json(report))["crypto_profile_zh"].endswith("含非国密算法")


def test_the_guomi_profile_refuses_a_non_sm2_seal_and_a_non_sm2_tsa(guomi):
    with pytest.raises(EarchiveError) as exc:
        require_profile(make_signer("local-ec"))
    assert exc.value.rule == "SEAL-CONFIG" and "国密" in str(exc.value)
    pki = DevPKI()
    pair = pki.pair("tsa")
    from earchive.crypto.signers import LocalKeySigner

    ecdsa_tsa = LocalTSA(LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], "an ECDSA TSA"))
    ecdsa_tsa.imprint_algorithm = "sm3"  # even asked in SM3, its token is ECDSA
    with pytest.raises(EarchiveError) as exc:
        timestamp(b"signature value", ecdsa_tsa)
    assert exc.value.rule == "SEAL-TSA" and "SM2" in str(exc.value)


def test_the_sm2_tsa_answers_in_sm3_and_its_policy_is_the_projects_own(guomi):
    resp = tsp.TimeStampResp.load(timestamp(b"x", make_tsa()))
    info = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sm3"
    assert info["policy"].native.startswith("2.25.")


def test_pack_on_the_command_line_takes_the_profile_and_a_bad_profile_is_a_rule(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "standard")  # undone after the test, with what the flag sets
    case = sample_case(tmp_path / "c", seed=63).folder
    assert main(["pack", str(case), "--out", str(tmp_path / "o"), "--crypto-profile", "guomi"]) == 0
    package = capsys.readouterr().out.strip()
    with zipfile.ZipFile(package) as zf:
        assert GM_SIGNATURE in zf.namelist()
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "gm")
    with pytest.raises(EarchiveError) as exc:
        make_signer()
    assert exc.value.rule == "SEAL-CONFIG" and "standard 或 guomi" in str(exc.value)


def test_the_list_signature_of_a_guomi_deployment_is_sm2(guomi):
    signer = require_profile(make_signer())
    info = signed_data(signer, content=b'{"batch_id": "1"}')
    check = verify_signed_data(info, [GmDevPKI().root_cert()], content=b'{"batch_id": "1"}')
    assert check.ok and check.algorithm == "sm2_sm3/sm3"


def test_a_pdfs_timestamps_never_come_from_an_sm2_tsa(guomi, monkeypatch):
    """pyHanko, which validates the printed lists, has no SM2: their timestamps come from an RSA/ECDSA TSA."""
    from earchive.crypto.signers import pdf_tsa
    from earchive.crypto.timestamp import HttpTSA

    sm2_tsa = make_tsa()
    assert sm2_tsa.imprint_algorithm == "sm3"
    assert pdf_tsa(sm2_tsa).imprint_algorithm == "sha256", "the development SM2 TSA stands aside for the ECDSA one"
    with pytest.raises(EarchiveError) as exc:
        pdf_tsa(HttpTSA("https://tsa.example.cn/sm2"))
    assert exc.value.rule == "SEAL-CONFIG" and "PdfTsaUrl" in str(exc.value)
    monkeypatch.setenv("EARCHIVE_PDF_TSA", "https://tsa.example.cn/rsa")
    assert pdf_tsa(HttpTSA("https://tsa.example.cn/sm2")).url == "https://tsa.example.cn/rsa"
