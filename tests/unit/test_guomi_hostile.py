"""Hostile and legacy 国密 seals (issue 23 review): each is judged for what it is, and the profile is never over-claimed.

Every package here is the same sealed case re-sealed another way (both manifests rebuilt, signed, timestamped for real),
so only the seal differs.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from asn1crypto import keys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from earchive.check import check_package
from earchive.crypto import sm2
from earchive.crypto.cms import signed_data
from earchive.crypto.identity import DEV_SEAL_POLICY
from earchive.crypto.pki import DevPKI
from earchive.crypto.signers import Sm2Signer, make_signer, make_tsa
from earchive.crypto.timestamp import LocalTSA, timestamp
from earchive.domain import layout as lay
from earchive.domain import seal as sl
from earchive.domain.pack import _write_bytes, pack
from earchive_devtools.sample import sample_case


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("guomi-hostile")
    return pack(sample_case(tmp / "c", seed=71).folder, tmp / "o", signer=make_signer("local-ec"), tsa=make_tsa("local")).path


def reseal(base: Path, out: Path, layout, signer, tsa, *, extra: dict[str, bytes] | None = None, alter_other: bool = False) -> Path:
    """The base package with its seal replaced: ``layout``'s manifests signed by ``signer``, stamped by ``tsa``."""
    with zipfile.ZipFile(base) as zf:
        sm3 = {p: d for d, p in sl.parse_manifest(zf.read(lay.MANIFEST_SM3))}
        sha = {p: d for d, p in sl.parse_manifest(zf.read(lay.MANIFEST_SHA256))}
    entries = [(p, sm3[p], sha[p]) for p in sm3 if p != lay.MANIFEST_SHA256]
    sm3_text, sha_text = sl.manifests(entries, layout)
    signed = sm3_text if layout.signed_manifest == lay.MANIFEST_SM3 else sha_text
    signature = signed_data(signer, content=signed).dump()
    if alter_other:  # the manifest the seal does not sign, one digest changed
        other = sha_text if layout.signed_manifest == lay.MANIFEST_SM3 else sm3_text
        other = b"0" * 64 + other[64:]
        sm3_text, sha_text = (sm3_text, other) if layout.signed_manifest == lay.MANIFEST_SM3 else (other, sha_text)
    files = {lay.MANIFEST_SM3: sm3_text, lay.MANIFEST_SHA256: sha_text, layout.signature: signature,
             layout.timestamp: timestamp(signature, tsa), **(extra or {})}
    out = out.with_name(base.name)  # the 电子文件号 names the file (GD-1-7)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename not in lay.ALL_SEAL_NAMES:
                dst.writestr(info, src.read(info))
        now = dt.datetime.now(dt.UTC)
        for name, data in files.items():
            _write_bytes(dst, name, data, now, stored=name.endswith((".p7s", ".tsr")))
    return out


def failed(report) -> set[str]:
    return {r.id for r in report.failures}


def test_the_guomi_seal_passes_and_is_named_guomi(base, tmp_path):
    report = check_package(reseal(base, tmp_path / "a" / "x", lay.GUOMI_SEAL, make_signer("local-sm2"), make_tsa("local-sm2")))
    assert report.passed and report.crypto_profile == "guomi", failed(report)


def test_a_package_sealed_before_the_profile_still_verifies(base, tmp_path):
    """ADR 0020's promise: an SM2 signature over manifest-sha256.txt (how local-sm2 sealed before) still verifies, as standard."""
    report = check_package(reseal(base, tmp_path / "a" / "x", lay.STANDARD_SEAL, make_signer("local-sm2"), make_tsa("local")))
    assert report.passed and report.crypto_profile == "standard", failed(report)


def test_the_guomi_names_on_an_ecdsa_signature_fail_the_signature_test(base, tmp_path):
    report = check_package(reseal(base, tmp_path / "a" / "x", lay.GUOMI_SEAL, make_signer("local-ec"), make_tsa("local")))
    assert "GD-1-1-2" in failed(report) and report.crypto_profile == ""
    assert "not SM2" in next(r.detail for r in report.results if r.id == "GD-1-1-2")


def test_both_seals_in_one_package_fail(base, tmp_path):
    gm = reseal(base, tmp_path / "gm" / "x", lay.GUOMI_SEAL, make_signer("local-sm2"), make_tsa("local-sm2"))
    with zipfile.ZipFile(gm) as zf:
        extra = {lay.GM_SIGNATURE: zf.read(lay.GM_SIGNATURE), lay.GM_TIMESTAMP: zf.read(lay.GM_TIMESTAMP)}
    report = check_package(reseal(base, tmp_path / "both" / "x", lay.STANDARD_SEAL, make_signer("local-ec"), make_tsa("local"), extra=extra))
    assert {"GD-1-13", "GD-4-3"} <= failed(report)


def test_a_stray_seal_file_and_an_altered_unsigned_manifest_fail(base, tmp_path):
    stray = reseal(base, tmp_path / "s" / "x", lay.GUOMI_SEAL, make_signer("local-sm2"), make_tsa("local-sm2"), extra={lay.TIMESTAMP: b"0"})
    assert {"GD-1-13", "GD-4-3"} <= failed(check_package(stray))
    altered = reseal(base, tmp_path / "m" / "x", lay.GUOMI_SEAL, make_signer("local-sm2"), make_tsa("local-sm2"), alter_other=True)
    assert "GD-1-1-1" in failed(check_package(altered))


def test_an_sm2_seal_under_an_ecdsa_root_is_not_called_guomi(base, tmp_path):
    """SM2 leaves for the seal and the TSA, both certified by the ECDSA development root: a 国密 seal, not a 国密 chain."""
    pki = DevPKI()
    key, tsa_key = sm2.generate_private_key(), sm2.generate_private_key()
    cert = sm2.issue_certificate(sm2.public_key_hex(key), "sm2 seal under ecdsa", pki.ca_key(), pki.ca_cert(), policy=DEV_SEAL_POLICY)
    tsa_cert = sm2.issue_certificate(sm2.public_key_hex(tsa_key), "sm2 tsa under ecdsa", pki.ca_key(), pki.ca_cert(), timestamping=True)
    tsa = LocalTSA(Sm2Signer(tsa_key, tsa_cert, [pki.ca_cert()], "sm2 tsa"))
    report = check_package(reseal(base, tmp_path / "a" / "x", lay.GUOMI_SEAL, Sm2Signer(key, cert, [pki.ca_cert()], "s"), tsa))
    assert report.passed and report.crypto_profile == "guomi-seal", failed(report)


def test_a_chain_nobody_could_walk_never_passes_the_chain_test(base, tmp_path):
    """An untrusted SM2 CA's leaf, carrying a decoy issuer whose key is not a point (compressed): GD-1-1-4 fails, named."""
    other = sm2.generate_private_key()
    root = sm2.issue_certificate(sm2.public_key_hex(other), "evil root", other, None, is_ca=True)
    leaf_key = sm2.generate_private_key()
    leaf = sm2.issue_certificate(sm2.public_key_hex(leaf_key), "evil seal", other, root, policy=DEV_SEAL_POLICY)
    tbs = ax509.TbsCertificate.load(ax509.Certificate.load(root.public_bytes(serialization.Encoding.DER))["tbs_certificate"].dump())
    tbs["subject_public_key_info"] = keys.PublicKeyInfo({"algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
        name="named", value=sm2.CURVE_OID)}, "public_key": b"\x02" + b"\x11" * 32})
    decoy = x509.load_der_x509_certificate(ax509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sm2_sm3"},
                                                              "signature_value": b"\x30\x06\x02\x01\x01\x02\x01\x01"}).dump())
    report = check_package(reseal(base, tmp_path / "a" / "x", lay.GUOMI_SEAL, Sm2Signer(leaf_key, leaf, [decoy], "evil"),
                                  make_tsa("local-sm2")))
    assert "GD-1-1-4" in failed(report) and report.crypto_profile == ""
    assert "no trusted issuer" in next(r.detail for r in report.results if r.id == "GD-1-1-4")
