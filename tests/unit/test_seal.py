"""Signers and TSAs: every pluggable kind seals a package that verifies, with the right algorithm."""

from __future__ import annotations

import zipfile

import boto3
import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from moto import mock_aws

from earchive.check import check_package
from earchive.crypto.cms import verify_signed_data
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.crypto.signers import make_signer, make_tsa
from earchive.crypto.timestamp import serve
from earchive.domain.layout import seal_layout_of
from earchive.domain.pack import pack
from earchive_devtools.sample import sample_case


def _signature_algorithm(package) -> str:
    with zipfile.ZipFile(package) as zf:
        info = cms.ContentInfo.load(zf.read(seal_layout_of(zf.namelist()).signature))
    return info["content"]["signer_infos"][0]["signature_algorithm"]["algorithm"].native


@pytest.mark.parametrize(("spec", "algorithm"), [("local-rsa", "sha256_rsa"), ("local-sm2", "sm2_sm3"), ("local-ec", "sha256_ecdsa")])
def test_local_signers(tmp_path, tsa, spec, algorithm):
    result = pack(sample_case(tmp_path / "c", seed=41).folder, tmp_path / "o", signer=make_signer(spec), tsa=tsa)
    assert _signature_algorithm(result.path) == algorithm
    report = check_package(result.path)
    assert report.passed, [r.as_dict() for r in report.failures]


def test_file_signer(tmp_path, tsa):
    pki = DevPKI()
    spec = f"file:{pki.dir / 'signer-rsa.key.pem'},{pki.dir / 'signer-rsa.pem'}"
    result = pack(sample_case(tmp_path / "c", seed=42).folder, tmp_path / "o", signer=make_signer(spec), tsa=tsa)
    assert check_package(result.path).passed


@mock_aws
@pytest.mark.parametrize(("key_spec", "algorithm"), [("ECC_NIST_P256", "sha256_ecdsa"), ("RSA_2048", "sha256_rsa")])
def test_kms_signer(tmp_path, tsa, key_spec, algorithm):
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=key_spec)["KeyMetadata"]["KeyId"]
    signer = make_signer(f"kms:{key_id}", kms_client=kms)
    assert signer.description.startswith("AWS KMS key")
    result = pack(sample_case(tmp_path / "c", seed=43).folder, tmp_path / "o", signer=signer, tsa=tsa)
    assert _signature_algorithm(result.path) == algorithm
    assert check_package(result.path).passed


def test_http_tsa(tmp_path, signer):
    server = serve(make_tsa("local"), "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = pack(sample_case(tmp_path / "c", seed=44).folder, tmp_path / "o", signer=signer, tsa=make_tsa(url))
        assert result.tsa == f"TSA at {url}"
        assert check_package(result.path).passed
    finally:
        server.shutdown()


def test_unreachable_tsa_is_a_clear_error_and_leaves_nothing(tmp_path, signer):
    from earchive.errors import EarchiveError

    with pytest.raises(EarchiveError) as exc:
        pack(sample_case(tmp_path / "c", seed=45).folder, tmp_path / "o", signer=signer, tsa=make_tsa("http://127.0.0.1:9/"))
    assert exc.value.rule == "SEAL-TSA"
    assert list((tmp_path / "o").iterdir()) == []


def test_bad_signer_spec():
    from earchive.errors import EarchiveError

    with pytest.raises(EarchiveError) as exc:
        make_signer("magic")
    assert exc.value.rule == "SEAL-CONFIG"


def test_tampered_signature_bytes_reported(signer):
    from earchive.crypto.cms import signed_data

    der = bytearray(signed_data(signer, content=b"manifest").dump())
    der[-10] ^= 0xFF
    result = verify_signed_data(cms.ContentInfo.load(bytes(der)), load_trust_anchors(DevPKI().ca_path), content=b"manifest")
    assert not result.ok


@pytest.mark.parametrize("spec", ["dev:institution-x", "local-sm2"])
def test_lazily_created_keys_are_safe_under_concurrency(tmp_path, spec):
    """Twenty concurrent pipeline steps once loaded a half-written certificate; now one thread creates, all agree."""
    from concurrent.futures import ThreadPoolExecutor

    pki = DevPKI(tmp_path / "home")
    with ThreadPoolExecutor(8) as pool:
        signers = list(pool.map(lambda _: make_signer(spec, pki=pki), range(16)))
    assert len({s.certificate.fingerprint(hashes.SHA256()) for s in signers}) == 1


@mock_aws
def test_kms_certificate_cache_is_safe_under_concurrency(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    pki = DevPKI(tmp_path / "home")
    with ThreadPoolExecutor(8) as pool:
        certs = list(pool.map(lambda _: make_signer(f"kms:{key_id}", pki=pki, kms_client=kms).certificate, range(16)))
    assert len({c.serial_number for c in certs}) == 1
