"""A signature timestamp on the signed JSONs (issue 23 item 4, audit D12): CAdES-T, an RFC 3161 token over the signature value.

The token goes in the SignerInfo's unsigned attribute id-aa-signatureTimeStampToken: nothing the signature covers changes, the
signature still verifies (earchive, OpenSSL, Bouncy Castle), and the token verifies on its own with ``openssl ts -verify`` and
Bouncy Castle's ``TimeStampToken`` over the signature value's bytes. Refused: no token, a token over another value, a token from a
TSA the anchors do not certify, a signer who claims to have signed after the token's time, a second token.
"""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from earchive.crypto.cades import SIGNATURE_TIME_STAMP_TOKEN, add_signature_timestamp, signature_timestamp, verify_timestamped
from earchive.crypto.cms import signed_data, verify_signed_data
from earchive.crypto.gm_pki import GmDevPKI
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.crypto.signers import LocalKeySigner, default_trust_path, make_signer, make_tsa

BODY = b'{"batch_id":"202612060001","packages":[]}'


def anchors() -> list[x509.Certificate]:
    """Both development roots: ECDSA P-256, and the SM2 one (root → intermediate → leaves, SM3withSM2)."""
    return load_trust_anchors(default_trust_path())


def is_sm2(der: bytes) -> bool:
    return signer_info(der)["signature_algorithm"]["algorithm"].native == "sm2_sm3"


def token_is_sm2(der: bytes) -> bool:
    """Whether the signature timestamp's token is the SM2 TSA's."""
    return is_sm2(token_of(der))


def issuer_pem(sm2_signed: bool) -> str:
    """The PEM of the CA that issued the development leaves: the ECDSA root, or the SM2 intermediate."""
    return str(GmDevPKI().dir / "intermediate.pem") if sm2_signed else str(DevPKI().ca_path)


def signer_info(der: bytes) -> cms.SignerInfo:
    return cms.ContentInfo.load(der)["content"]["signer_infos"][0]


def token_of(der: bytes) -> bytes:
    """The TimeStampToken (DER) the signature carries, as a verifier outside earchive extracts it."""
    (attr,) = [a for a in signer_info(der)["unsigned_attrs"] if a["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN]
    return attr["values"][0].dump()


def with_token(der: bytes, token: bytes) -> bytes:
    """``der`` carrying ``token`` (from elsewhere) as its signature timestamp, in place of its own."""
    info = cms.ContentInfo.load(der)
    si = cms.SignerInfo.load(signer_info(der).dump())
    si["unsigned_attrs"] = cms.CMSAttributes([{"type": "signature_time_stamp_token", "values": [cms.ContentInfo.load(token)]}])
    sd = cms.SignedData.load(info["content"].untag().dump())
    sd["signer_infos"] = cms.SignerInfos([si])
    return cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()


@pytest.fixture(scope="module", params=[("local-ec", "local"), ("local-sm2", "local"), ("local-sm2", "local-sm2")])
def stamped(request) -> tuple[bytes, bytes, dt.datetime, dt.datetime]:
    """(a signature, the same with its signature timestamp, before, after): ECDSA and SM2 signers; the 国密 pair is an SM2
    signature stamped by the SM2 TSA over an SM3 imprint (GB/T 20520)."""
    signer, tsa = request.param
    plain = signed_data(make_signer(signer), content=BODY).dump()
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    der = add_signature_timestamp(plain, make_tsa(tsa))
    return plain, der, before, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)


def test_the_timestamp_changes_nothing_the_signature_covers_and_gives_the_tsas_time(stamped):
    plain, der, before, after = stamped
    was, now = signer_info(plain), signer_info(der)
    assert now["signed_attrs"].dump() == was["signed_attrs"].dump() and now["signature"].native == was["signature"].native
    for part in ("digest_algorithms", "encap_content_info", "certificates"):
        assert cms.ContentInfo.load(der)["content"][part].dump() == cms.ContentInfo.load(plain)["content"][part].dump(), part
    assert not was["unsigned_attrs"].native, "made without one, as before"
    check = verify_signed_data(cms.ContentInfo.load(der), anchors(), content=BODY)
    assert check.ok, check.errors + check.chain_errors  # the strict DER check is on signed attributes only
    when, problems = signature_timestamp(der, anchors())
    assert problems == [] and before <= when <= after
    found = verify_timestamped(der, BODY, anchors(), anchors())
    assert found.problems == [] and found.gen_time == when and found.check.signer_cert is not None


def test_a_signature_without_a_timestamp_is_named_in_chinese_and_english(stamped):
    plain = stamped[0]
    when, problems = signature_timestamp(plain, anchors())
    assert when is None and len(problems) == 1 and problems[0].startswith("签名没有时间戳 / ") and "signature timestamp" in problems[0]
    assert verify_timestamped(plain, BODY, anchors(), anchors()).timestamp_problems == problems


def test_a_token_over_another_signature_value_is_refused(stamped, signer, tsa):
    other = add_signature_timestamp(signed_data(signer, content=b"another document").dump(), tsa)
    swapped = with_token(stamped[1], token_of(other))
    assert verify_signed_data(cms.ContentInfo.load(swapped), anchors(), content=BODY).ok, "the signature itself is untouched"
    when, problems = signature_timestamp(swapped, anchors())
    assert when is None and any("message imprint differs" in p for p in problems), problems


def test_a_token_from_a_tsa_the_anchors_do_not_certify_is_refused(tmp_path, signer):
    stranger = make_tsa("local", pki=DevPKI(tmp_path / "stranger"))
    der = add_signature_timestamp(signed_data(signer, content=BODY).dump(), stranger)
    when, problems = signature_timestamp(der, anchors())
    assert when is None and any("TSA" in p and "untrusted certificate chain" in p for p in problems), problems
    assert signature_timestamp(der, [DevPKI(tmp_path / "stranger").ca_cert()])[1] == [], "its own anchors certify it"
    sm2_stranger = make_tsa("local-sm2", pki=DevPKI(tmp_path / "stranger"))  # an SM2 TSA under another SM2 root
    der = add_signature_timestamp(signed_data(signer, content=BODY).dump(), sm2_stranger)
    assert any("untrusted certificate chain" in p for p in signature_timestamp(der, anchors())[1])


@pytest.mark.parametrize(("ahead", "ok"), [(dt.timedelta(minutes=2), True), (dt.timedelta(hours=1), False)])
def test_a_signing_time_after_the_tokens_time_is_refused(signer, tsa, ahead, ok):
    """The signer's clock may run up to 5 minutes ahead of the TSA's; a claim of signing an hour after the token is a lie."""
    der = add_signature_timestamp(signed_data(signer, content=BODY, signing_time=dt.datetime.now(dt.UTC) + ahead).dump(), tsa)
    when, problems = signature_timestamp(der, anchors())
    if ok:
        assert problems == [] and when is not None
    else:
        assert when is None and len(problems) == 1 and problems[0].startswith("签名时间晚于签名时间戳 / the signing time"), problems


def test_the_certificate_must_be_valid_at_the_tokens_time_not_at_the_signers_claim():
    """A certificate that expired a minute ago, a signature claiming to be from before: only the claim makes it valid."""
    pki, key = DevPKI(), ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired reply signer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(pki.ca_cert().subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now - dt.timedelta(minutes=1)).sign(pki.ca_key(), hashes.SHA256()))
    plain = signed_data(LocalKeySigner(key, cert, [], "expired"), content=BODY, signing_time=now - dt.timedelta(minutes=2)).dump()
    assert verify_signed_data(cms.ContentInfo.load(plain), anchors(), content=BODY).ok, "at its own claimed time it was valid"
    found = verify_timestamped(add_signature_timestamp(plain, make_tsa("local")), BODY, anchors(), anchors())
    assert found.timestamp_problems == [] and any("is not valid at" in p for p in found.signature_problems), found


def test_a_second_timestamp_is_refused(stamped, tsa):
    with pytest.raises(ValueError, match="already"):
        add_signature_timestamp(stamped[1], tsa)


def test_a_signature_carrying_two_tokens_is_refused_when_checked(stamped):
    """Hostile CMS made elsewhere: two token values in one attribute, or the attribute twice (one signature, one time)."""
    token = cms.ContentInfo.load(token_of(stamped[1]))
    for attrs in ([{"type": "signature_time_stamp_token", "values": [token, token]}],
                  [{"type": "signature_time_stamp_token", "values": [token]}] * 2):
        info = cms.ContentInfo.load(stamped[1])
        si = cms.SignerInfo.load(signer_info(stamped[1]).dump())
        si["unsigned_attrs"] = cms.CMSAttributes(attrs)
        sd = cms.SignedData.load(info["content"].untag().dump())
        sd["signer_infos"] = cms.SignerInfos([si])
        der = cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()
        when, problems = signature_timestamp(der, anchors())
        assert when is None and any("多个时间戳" in p for p in problems), problems


def test_a_guomi_verifier_takes_only_sm2_tokens_over_sm3(stamped, monkeypatch):
    """ADR 0020: under the 国密 profile a signature timestamp from an ECDSA TSA (SHA-256 imprint) is refused by name."""
    monkeypatch.setenv("EARCHIVE_CRYPTO_PROFILE", "guomi")
    when, problems = signature_timestamp(stamped[1], anchors())
    if token_is_sm2(stamped[1]):
        assert when is not None and problems == []
    else:
        assert when is None and any("国密配置要求 SM2 时间戳" in p for p in problems), problems


@pytest.mark.parametrize("spec", ["local-ec", "local-sm2"])
def test_openssl_verifies_the_signature_and_the_embedded_token_over_the_signature_value(tmp_path, tsa, spec):
    """``openssl ts -verify -data <signature value> -in <token> -token_in``: the token is over exactly those bytes.

    OpenSSL 3.0 verifies no SM2 CMS signature and no SM2 certificate (the distinguishing ID): an SM2 list or reply is checked
    here by its (ECDSA) TSA's token only, and the SM2 TSA's token is Bouncy Castle's to check (below), as for the seal."""
    der = add_signature_timestamp(signed_data(make_signer(spec), content=BODY).dump(), tsa)
    (tmp_path / "s.p7s").write_bytes(der)
    (tmp_path / "body.json").write_bytes(BODY)
    (tmp_path / "value.bin").write_bytes(signer_info(der)["signature"].native)
    (tmp_path / "token.der").write_bytes(token_of(der))
    ca = str(default_trust_path())
    if not is_sm2(der):  # OpenSSL 3.0's CMS verifies no SM2 signature at all
        cms_out = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "s.p7s"), "-content",
                                  str(tmp_path / "body.json"), "-CAfile", ca, "-purpose", "any", "-out", "/dev/null"],
                                 capture_output=True, text=True, timeout=60)
        assert cms_out.returncode == 0 and "Verification successful" in cms_out.stderr, cms_out.stderr
    ts = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "value.bin"), "-in", str(tmp_path / "token.der"), "-token_in",
                         "-CAfile", ca], capture_output=True, text=True, timeout=60)
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    (tmp_path / "other.bin").write_bytes(b"not the signature value")
    wrong = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "other.bin"), "-in", str(tmp_path / "token.der"), "-token_in",
                            "-CAfile", ca], capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0, "and over nothing else"


@pytest.fixture(scope="module")
def bouncy_castle(tmp_path_factory) -> list[str]:
    """``java -cp … `` for tests/java's Bouncy Castle programs (compiled once a session: tests/java_tools.py)."""
    from tests.java_tools import java_command

    return java_command(tmp_path_factory, "BcVerify")[:-1]


def root_pem(sm2_family: bool) -> str:
    """The development root of the family: ECDSA P-256, or SM2 (whose leaves hang under the SM2 intermediate)."""
    return str(GmDevPKI().root_path) if sm2_family else str(DevPKI().ca_path)


def test_bouncy_castle_verifies_the_signature_and_its_timestamp_token(tmp_path, stamped, signer, tsa, bouncy_castle):
    """BcVerify (chain mode): the whole SignedData and its path to the root, untouched by the unsigned attribute; BcVerify (ts
    mode): the token, extracted here, over the signature value's bytes; BcSignatureTimestamp: the token found by Bouncy Castle
    itself in the SignerInfo's unsigned attributes, its imprint recomputed over BC's own reading of the signature value."""
    der = stamped[1]
    (tmp_path / "s.p7s").write_bytes(der)
    (tmp_path / "body.json").write_bytes(BODY)
    (tmp_path / "value.bin").write_bytes(signer_info(der)["signature"].native)
    (tmp_path / "token.der").write_bytes(token_of(der))

    def bc(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*bouncy_castle, *args], capture_output=True, text=True, timeout=120)

    whole = bc("BcVerify", "chain", str(tmp_path / "s.p7s"), str(tmp_path / "body.json"), root_pem(is_sm2(der)))
    assert whole.returncode == 0, whole.stderr  # the unsigned attribute disturbs nothing
    token = bc("BcVerify", "ts", str(tmp_path / "token.der"), str(tmp_path / "value.bin"), root_pem(token_is_sm2(der)))
    assert token.returncode == 0, token.stderr
    found = bc("BcSignatureTimestamp", str(tmp_path / "s.p7s"), issuer_pem(token_is_sm2(der)))
    assert found.returncode == 0 and "verified genTime" in found.stdout, found.stderr
    other = add_signature_timestamp(signed_data(signer, content=b"another document").dump(), tsa)
    (tmp_path / "swapped.p7s").write_bytes(with_token(der, token_of(other)))
    refused = bc("BcSignatureTimestamp", str(tmp_path / "swapped.p7s"), issuer_pem(False))
    assert refused.returncode == 1 and "imprint is not over the signature value" in refused.stderr, refused.stderr
