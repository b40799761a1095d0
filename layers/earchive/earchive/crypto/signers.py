"""Signers and timestamp authorities, chosen by a short spec string.

The same specs work on the command line, in Lambda environment variables and
in tests:

========================  ==================================================
``local-ec`` (default)    development ECDSA P-256 key of the local dev CA
``local-rsa``             development RSA-3072 key
``local-sm2``             development SM2 key (国密), certificate by the dev CA
``kms:KEY_ID``            AWS KMS asymmetric key, RAW signing (earchive.aws.kms);
                          certificate from ``EARCHIVE_SIGNER_CERT`` (PEM, leaf first)
``file:KEY.pem,CERT.pem`` a key and certificate chain held in files
``dev:NAME``              a development ECDSA key of its own for party NAME
                          (e.g. the receiving institution), by the dev CA
========================  ==================================================

TSA specs: ``local`` (the development TSA, in process) or an ``http(s)://`` URL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..config import current, earchive_home
from ..errors import reject
from . import sm2
from .identity import DEV_SEAL_POLICY
from .pki import DevPKI, locked, write_atomic
from .timestamp import HttpTSA, LocalTSA, TimestampAuthority


class LocalKeySigner:
    """ECDSA (SHA-256) or RSA PKCS#1 v1.5 (SHA-256) with a key in memory."""

    digest_algorithm = "sha256"

    def __init__(self, key, certificate: x509.Certificate, chain: list[x509.Certificate], description: str):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        self._key, self.certificate, self.chain, self.description = key, certificate, chain, description
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self.signature_algorithm = "sha256_ecdsa"
            self._sign = lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPrivateKey):
            self.signature_algorithm = "sha256_rsa"
            self._sign = lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise reject("SEAL-CONFIG", f"unsupported key type {type(key).__name__}")

    def sign(self, data: bytes) -> bytes:
        return self._sign(data)


class Sm2Signer:
    """SM2 with SM3 (国密), the national-crypto signer."""

    digest_algorithm = "sm3"
    signature_algorithm = "sm2_sm3"

    def __init__(self, private_hex: str, certificate: x509.Certificate, chain: list[x509.Certificate], description: str):
        self._d, self.certificate, self.chain, self.description = private_hex, certificate, chain, description

    def sign(self, data: bytes) -> bytes:
        return sm2.sign(self._d, data)


def _dev_sm2(pki: DevPKI) -> Sm2Signer:
    key_file, cert_file = pki.dir / "signer-sm2.key.hex", pki.dir / "signer-sm2.pem"
    if not cert_file.exists():
        with locked(pki.dir):
            if not cert_file.exists():
                d = sm2.generate_private_key()
                cert = sm2.issue_certificate(sm2.public_key_hex(d), "earchive 开发用签名证书 Package Signer (SM2)", pki.ca_key(), pki.ca_cert(),
                                             policy=DEV_SEAL_POLICY)
                write_atomic(key_file, d.encode(), 0o600)
                write_atomic(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    return Sm2Signer(key_file.read_text().strip(), cert, [pki.ca_cert()], "development SM2 key")


def make_signer(spec: str | None = None, pki: DevPKI | None = None, kms_client=None, cert_path: str | None = None):
    """The signer named by ``spec`` (default ``$EARCHIVE_SIGNER`` or ``local-ec``).

    ``cert_path`` is the PEM of a ``kms:`` key (default ``$EARCHIVE_SIGNER_CERT``).
    """
    settings = current()
    spec = spec or settings.signer or "local-ec"
    development = spec.startswith(("local-", "dev:")) or (spec.startswith("kms:") and not (cert_path or settings.signer_cert))
    if development:
        _refuse_development_in_lambda(f"signer {spec!r}" + (" without a certificate (SignerCertificateParameter)" if spec.startswith("kms:") else ""))
    if spec in ("local-ec", "local-rsa"):
        pki = pki or DevPKI()
        pair = pki.pair("signer-ec" if spec == "local-ec" else "signer-rsa")
        return LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], f"development {spec[6:].upper()} key")
    if spec == "local-sm2":
        return _dev_sm2(pki or DevPKI())
    if spec.startswith("dev:") and spec[4:].replace("-", "").isalnum():
        pki = pki or DevPKI()
        pair = pki.pair(f"party-{spec[4:]}")
        return LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], f"development key of {spec[4:]}")
    if spec.startswith("kms:"):
        key_id = spec[4:]
        from ..aws.kms import KmsSigner

        cert_path = cert_path or settings.signer_cert
        if cert_path:
            certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
            return KmsSigner(key_id, certs[0], certs[1:], kms_client)
        pki = pki or DevPKI()
        signer = KmsSigner(key_id, pki.ca_cert(), [], kms_client)  # placeholder cert until issued below
        signer.certificate = _dev_cert_for_public_key(pki, signer.public_key_der(), f"earchive 开发用 KMS 签名证书 {key_id[:8]}")
        signer.chain = [pki.ca_cert()]
        return signer
    if spec.startswith("file:"):
        key_path, _, cert_path = spec[5:].partition(",")
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
            certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
        except (OSError, ValueError) as exc:
            raise reject("SEAL-CONFIG", f"cannot load signer key/certificate: {exc}") from None
        return LocalKeySigner(key, certs[0], certs[1:], f"key file {key_path}")
    raise reject("SEAL-CONFIG", f"unknown signer spec {spec!r} (local-ec, local-rsa, local-sm2, kms:ID, file:KEY,CERT, dev:NAME)")


def _dev_cert_for_public_key(pki: DevPKI, public_der: bytes, cn: str) -> x509.Certificate:
    """Dev CA certificate for a KMS public key, cached per key (development only)."""
    from .pki import issue_certificate

    cache = pki.dir / f"kms-{hashlib.sha256(public_der).hexdigest()[:16]}.pem"
    if not cache.exists():
        with locked(pki.dir):
            if not cache.exists():
                cert = issue_certificate(cn, serialization.load_der_public_key(public_der), pki.ca_key(), pki.ca_cert(), policy=DEV_SEAL_POLICY)
                write_atomic(cache, cert.public_bytes(serialization.Encoding.PEM))
    return x509.load_pem_x509_certificate(cache.read_bytes())


def make_tsa(spec: str | None = None, pki: DevPKI | None = None) -> TimestampAuthority:
    """The TSA named by ``spec`` (default ``$EARCHIVE_TSA`` or ``local``)."""
    spec = spec or current().tsa or "local"
    if spec == "local":
        _refuse_development_in_lambda("the development TSA (TsaUrl=local)")
        pki = pki or DevPKI()
        pair = pki.pair("tsa")
        return LocalTSA(LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], "development TSA key"))
    if spec.startswith(("http://", "https://")):
        return HttpTSA(spec)
    raise reject("SEAL-CONFIG", f"unknown TSA spec {spec!r} (local or an http(s) URL)")


def _refuse_development_in_lambda(what: str) -> None:
    """No development key in production (review F4): in a Lambda, a development CA never signs, unless the stack says so."""
    settings = current()
    if settings.lambda_function and not settings.allow_development_keys:
        raise reject("SEAL-CONFIG", f"{what} would sign with a development CA in Lambda {settings.lambda_function}; configure the "
                                    "real certificate (and TsaUrl), or deploy with AllowDevelopmentKeys=true to try the stack out")


def default_trust_path() -> Path:
    """The development CA (what ``verify`` trusts without ``--trust``)."""
    return DevPKI(earchive_home()).ca_path
