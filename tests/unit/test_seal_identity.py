"""Only the archive's seal seals (review F1, F12, F14, F17).

An altered package re-sealed by anybody else the CA certifies — the TSA, an institution, another
unit — must fail GD-1-1-2 with a detail that names who signed; a certificate that is not a
signing certificate never seals; nothing unexamined is reported as a pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from earchive.check import CheckOptions, check_package
from earchive.crypto import sm2
from earchive.crypto.cms import signed_data, verify_chain, verify_signed_data
from earchive.crypto.identity import DEV_SEAL_POLICY, SealIdentity
from earchive.crypto.pki import DevPKI, issue_certificate, load_trust_anchors
from earchive.crypto.signers import LocalKeySigner, make_signer, make_tsa
from earchive.domain.layout import MANIFEST_SM3, METADATA_NAME, SEAL_FILES, SIGNATURE
from earchive.domain.pack import seal_package


def reseal(package: Path, out: Path, signer, *, alter: bool = True, sm3_manifest: bool = True) -> Path:
    """Copy ``package`` without its seal, change the applicant's name, and seal it again with ``signer``."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in SEAL_FILES:
                continue
            data = src.read(info)
            if alter and info.filename == METADATA_NAME:
                data = data.replace(b"<apply_name>", b"<apply_name>\xe5\x86\x92\xe5\x90\x8d")  # 冒名: someone else's name
            dst.writestr(info, data)
    with zipfile.ZipFile(out) as z:
        entries = [(n, hashlib.new("sm3", z.read(n)).hexdigest() if "sm3" in hashlib.algorithms_available else _sm3(z.read(n)),
                    hashlib.sha256(z.read(n)).hexdigest()) for n in z.namelist()]
    seal_package(out, entries, signer=signer, tsa=make_tsa("local"))
    if not sm3_manifest:  # the SM3 manifest emptied, the SHA-256 manifest and signature made anew over it
        _empty_sm3_manifest(out, signer)
    return out


def _sm3(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def _empty_sm3_manifest(path: Path, signer) -> None:
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist() if i.filename not in SEAL_FILES}
    tmp = path.with_suffix(".tmp.zip")
    with zipfile.ZipFile(tmp, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    entries = [(n, _sm3(d), hashlib.sha256(d).hexdigest()) for n, d in members.items()]
    seal_package(tmp, entries, signer=signer, tsa=make_tsa("local"))
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, b"" if info.filename == MANIFEST_SM3 else src.read(info))
    tmp.unlink()


def result(report, code: str):
    return next(r for r in report.results if r.id == f"GD-{code}")


def test_the_seal_key_of_the_deployment_still_seals(packed):
    _, good = packed
    report = check_package(good.path)
    assert report.passed, [r.as_dict() for r in report.failures]
    assert "seal identity" in result(report, "1-1-2").detail


@pytest.mark.parametrize("other", ["dev:institution", "tsa", "dev:another-unit"])
def test_a_package_resealed_by_anyone_but_the_seal_fails_naming_who_signed(packed, tmp_path, other):
    """The review's repro: metadata altered, manifests recomputed, re-signed and timestamped — by the wrong key."""
    _, good = packed
    pki = DevPKI()
    if other == "tsa":
        pair = pki.pair("tsa")
        signer = LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], "the TSA's key")
    else:
        signer = make_signer(other)
    forged = reseal(good.path, tmp_path / good.path.name, signer)
    report = check_package(forged)
    assert not report.passed
    r = result(report, "1-1-2")
    assert r.status == "fail"
    assert f"signed by {signer.certificate.subject.rfc4514_string()}" in r.detail
    if other == "tsa":
        assert "timestamping" in r.detail
    else:
        assert "not this archive's seal identity" in r.detail
    assert result(report, "1-1-1").status == "pass", "the forger recomputed the manifests: only the identity gives it away"


def test_a_pinned_seal_certificate_is_the_only_one_that_seals(packed, tmp_path):
    """Production pins the deployment's own seal certificate: another development seal key fails too."""
    _, good = packed
    ec_signer, rsa_signer = make_signer("local-ec"), make_signer("local-rsa")
    pinned = SealIdentity.of([ec_signer.certificate], label="the deployment's seal certificate")
    assert check_package(good.path, CheckOptions(seal_identity=pinned)).passed
    other = reseal(good.path, tmp_path / good.path.name, rsa_signer, alter=False)
    report = check_package(other, CheckOptions(seal_identity=pinned))
    assert "not this archive's seal identity (the deployment's seal certificate)" in result(report, "1-1-2").detail


def test_a_certificate_without_a_signing_key_usage_never_seals(packed, tmp_path):
    pki = DevPKI()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_certificate("key agreement only", key.public_key(), pki.ca_key(), pki.ca_cert(), policy=DEV_SEAL_POLICY)
    builder = x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer).public_key(key.public_key()) \
        .serial_number(x509.random_serial_number()).not_valid_before(cert.not_valid_before_utc) \
        .not_valid_after(cert.not_valid_after_utc) \
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True) \
        .add_extension(x509.KeyUsage(False, False, False, False, True, False, False, False, False), critical=True) \
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(DEV_SEAL_POLICY), None)]), critical=False)
    cert = builder.sign(pki.ca_key(), hashes.SHA256())
    _, good = packed
    forged = reseal(good.path, tmp_path / good.path.name, LocalKeySigner(key, cert, [pki.ca_cert()], "no signing usage"))
    assert "neither digitalSignature nor nonRepudiation" in result(check_package(forged), "1-1-2").detail


def test_no_signer_certificate_is_never_a_chain_pass(packed, tmp_path):
    """F12: a SignedData without its signer's certificate fails 1-1-2 *and* 1-1-4 (nothing was examined)."""
    _, good = packed
    with zipfile.ZipFile(good.path) as z:
        members = [(i, z.read(i)) for i in z.infolist()]
    info = acms.ContentInfo.load(dict((i.filename, d) for i, d in members)[SIGNATURE])
    stripped = acms.ContentInfo({"content_type": "signed_data", "content": acms.SignedData({
        **{k: info["content"][k] for k in ("version", "digest_algorithms", "encap_content_info", "signer_infos")}})}).dump()
    bad = tmp_path / good.path.name
    with zipfile.ZipFile(bad, "w") as z:
        for i, d in members:
            z.writestr(i, stripped if i.filename == SIGNATURE else d)
    report = check_package(bad)
    assert result(report, "1-1-2").status == "fail"
    r = result(report, "1-1-4")
    assert r.status == "fail" and "no signer certificate" in r.detail


def test_an_empty_sm3_manifest_fails_the_digest_test(packed, tmp_path):
    """F14: the SM3 manifest must cover every file, not merely exist (here re-signed by the genuine seal key)."""
    _, good = packed
    resealed = reseal(good.path, tmp_path / good.path.name, make_signer("local-ec"), alter=False, sm3_manifest=False)
    r = result(check_package(resealed), "1-1-1")
    assert r.status == "fail" and f"not covered by {MANIFEST_SM3}" in r.detail


def test_sm2_signatures_with_r_or_s_out_of_range_are_refused():
    """F17: s + n (or 0) is not the same signature: GB/T 32918.2 wants r, s in [1, n-1]."""
    from asn1crypto import algos

    d = sm2.generate_private_key()
    pub = sm2.public_key_hex(d)
    sig = algos.DSASignature.load(sm2.sign(d, b"manifest"))
    assert sm2.verify(pub, sig.dump(), b"manifest")
    for r, s in ((sig["r"].native, sig["s"].native + sm2._N), (0, sig["s"].native), (sig["r"].native, 0)):
        assert not sm2.verify(pub, algos.DSASignature({"r": r, "s": s}).dump(), b"manifest")


def test_the_algorithm_comes_from_the_certificate_not_the_signer_info():
    """F17: an ECDSA signature whose (unsigned) algorithm field says sm2_sm3 is refused, not verified as SM2."""
    signer = make_signer("local-ec")
    info = signed_data(signer, content=b"manifest")
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sm2_sm3"}
    check = verify_signed_data(acms.ContentInfo.load(info.dump()), load_trust_anchors(DevPKI().ca_path), content=b"manifest")
    assert not check.ok and any("not an SM2 key" in e for e in check.errors)


def _ca(name: str, key, issuer_key, issuer: x509.Certificate | None, path_length: int | None, key_cert_sign: bool = True):
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject if issuer else subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, key_cert_sign, True, False, False), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def test_path_length_and_key_cert_sign_are_enforced():
    """F17: a root that allows no CA below it, and a CA without keyCertSign, cannot vouch for a leaf."""
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _ca("root pathLen 0", root_key, root_key, None, 0)
    mid = _ca("intermediate", mid_key, root_key, root, None)
    leaf = issue_certificate("leaf", leaf_key.public_key(), mid_key, mid)
    now = dt.datetime.now(dt.UTC)
    assert any("allows 0 CA(s) below it" in e for e in verify_chain(leaf, [mid], [root], now))
    no_sign = _ca("CA without keyCertSign", mid_key, mid_key, None, None, key_cert_sign=False)
    leaf2 = issue_certificate("leaf", leaf_key.public_key(), mid_key, no_sign)
    assert any("no keyCertSign" in e for e in verify_chain(leaf2, [], [no_sign], now))
    ok_root = _ca("root", root_key, root_key, None, 1)
    ok_mid = _ca("intermediate", mid_key, root_key, ok_root, 0)
    assert verify_chain(issue_certificate("leaf", leaf_key.public_key(), mid_key, ok_mid), [ok_mid], [ok_root], now) == []


@pytest.mark.parametrize(("spec", "ok"), [("local-ec", True), ("dev:institution", False)])
def test_verify_batch_pins_the_sender(tmp_path, capsys, spec, ok):
    """The institution accepts a transfer list only from the archive's seal identity, not from anyone its CA certifies."""
    import json

    from earchive.cli import main
    from earchive.domain.transfer import canonical

    folder = tmp_path / "batch"
    (folder / "packages").mkdir(parents=True)
    body = canonical({"batch_id": "202611250001", "packages": []})
    (folder / "transfer-list.json").write_bytes(body)
    from earchive.crypto.cades import add_signature_timestamp
    from earchive.crypto.signers import make_tsa

    (folder / "transfer-list.json.sender.p7s").write_bytes(add_signature_timestamp(signed_data(make_signer(spec), content=body).dump(),
                                                                                   make_tsa("local")))
    code = main(["verify-batch", str(folder), "--trust", str(DevPKI().ca_path)])
    out = capsys.readouterr().out
    assert code == (0 if ok else 1), out
    if not ok:
        assert "not this archive's seal identity" in out and "party-institution" in out
    assert json.loads(body)["batch_id"] in out


@pytest.mark.parametrize("spec", ["local-ec", "local-sm2", "dev:institution"])
def test_no_development_key_signs_in_lambda(monkeypatch, spec):
    """F4 (first half): in a Lambda, a development CA never signs unless the stack allows it for a trial."""
    from earchive.errors import EarchiveError

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "earchive-seal")
    with pytest.raises(EarchiveError, match="development CA in Lambda earchive-seal"):
        make_signer(spec)
    with pytest.raises(EarchiveError, match="development TSA"):
        make_tsa("local")
    monkeypatch.setenv("EARCHIVE_ALLOW_DEVELOPMENT_KEYS", "true")
    assert make_signer(spec).certificate is not None


def test_a_real_key_file_signs_in_lambda(monkeypatch, tmp_path):
    from cryptography.hazmat.primitives import serialization

    pki = DevPKI()
    pair = pki.pair("signer-ec")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    key.write_bytes(pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert.write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "earchive-seal")
    assert make_signer(f"file:{key},{cert}").description.startswith("key file")
