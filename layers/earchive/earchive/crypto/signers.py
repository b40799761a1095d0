"""Signers and timestamp authorities, chosen by a short spec string.

The same specs work on the command line, in Lambda environment variables and
in tests:

========================  ==================================================
``local-ec`` (default)    development ECDSA P-256 key of the local dev CA
``local-rsa``             development RSA-3072 key
``local-sm2``             development SM2 key (国密), certificate by the SM2 dev
                          intermediate under the SM2 dev root (all SM3withSM2)
``kms:KEY_ID``            AWS KMS asymmetric key, RAW signing (earchive.aws.kms);
                          certificate from ``EARCHIVE_SIGNER_CERT`` (PEM, leaf first)
``file:KEY.pem,CERT.pem`` a key and certificate chain held in files
``dev:NAME``              a development key of its own for party NAME (e.g. the
                          receiving institution): ECDSA by the dev CA, or SM2 by
                          the SM2 dev intermediate under the 国密 profile
========================  ==================================================

TSA specs: ``local`` (the development TSA, in process: ECDSA, or SM2 under the 国密
profile), ``local-sm2`` (the SM2 development TSA) or an ``http(s)://`` URL.

``EARCHIVE_CRYPTO_PROFILE=guomi`` (:func:`profile`) makes the defaults 国密 and refuses
a non-SM2 seal or list signer (ADR 0020).
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

PROFILES = ("standard", "guomi")


def profile() -> str:
    """The deployment's crypto profile: ``guomi`` (every signature SM2/SM3) or ``standard``."""
    value = (current().crypto_profile or "standard").strip().lower()
    if value not in PROFILES:
        raise reject("SEAL-CONFIG", f"EARCHIVE_CRYPTO_PROFILE={value!r}: 应为 standard 或 guomi (国密) / must be standard or guomi")
    return value


def require_profile(signer, what: str = "the seal"):
    """Refuse, under the 国密 profile, a signer for ``what`` that is not SM2 or whose certificates are not all SM3withSM2."""
    if profile() != "guomi":
        return signer
    if signer.signature_algorithm != "sm2_sm3":
        raise reject("SEAL-CONFIG", f"国密配置（EARCHIVE_CRYPTO_PROFILE=guomi）要求{what}使用 SM2 密钥，{signer.description} 是 "
                                    f"{signer.signature_algorithm} / the 国密 profile requires an SM2 key for {what}")
    other = [c.subject.rfc4514_string() for c in [signer.certificate, *signer.chain] if c.signature_algorithm_oid.dotted_string != sm2.SIGN_OID]
    if other:
        raise reject("SEAL-CONFIG", f"国密配置要求{what}的证书链全部为 SM3withSM2（国密 CA 签发），以下证书不是：{'；'.join(other)} / "
                                    f"the 国密 profile requires every certificate of {what}'s chain signed SM3withSM2")
    return signer


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


def _dev_sm2(pki: DevPKI, name: str = "signer-sm2", cn: str = "earchive 开发用签名证书 Package Signer (SM2)", *,
             policy: str | None = DEV_SEAL_POLICY, timestamping: bool = False, description: str = "development SM2 key") -> Sm2Signer:
    """An SM2 leaf of the 国密 development PKI (root → intermediate → leaf, all SM3withSM2)."""
    from .gm_pki import GmDevPKI

    gm = GmDevPKI(pki)
    key, cert = gm.leaf(name, cn, policy=policy, timestamping=timestamping)
    return Sm2Signer(key, cert, gm.chain(), description)


def _file_signer(key_path: str, cert_path: str):
    """A signer from key and certificate files: SM2 (PKCS#8 or SEC1, as OpenSSL and 国密 tools write them), ECDSA or RSA."""
    try:
        key_bytes = Path(key_path).read_bytes()
        certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise reject("SEAL-CONFIG", f"无法读取签名私钥或证书文件（{exc}）：私钥应为 PEM（PKCS#8 或 SEC1），证书应为 PEM，叶证书在前 / "
                                    f"cannot read the signer's key or certificate") from None
    try:
        sm2_key = sm2.load_private_key(key_bytes)
    except ValueError as exc:
        raise reject("SEAL-CONFIG", f"{key_path} 不是可读的私钥（{exc}）：请提供未加密的 PEM 私钥（PKCS#8 或 SEC1） / "
                                    "not a readable private key") from None
    leaf_is_sm2 = sm2.is_sm2_certificate(certs[0])
    if sm2_key is not None:
        if not leaf_is_sm2:
            raise reject("SEAL-CONFIG", f"{key_path} 是 SM2 私钥，但 {cert_path} 的第一张证书不是 SM2 证书 / an SM2 key with a non-SM2 certificate")
        if sm2.public_key_hex(sm2_key) != sm2.public_key_from_cert(certs[0]):
            raise reject("SEAL-CONFIG", f"私钥 {key_path} 与证书 {cert_path} 不匹配（公钥不同）：请核对证书是否为该密钥签发 / "
                                        "the key does not match the certificate")
        return Sm2Signer(sm2_key, certs[0], certs[1:], f"key file {key_path}")
    if leaf_is_sm2:
        raise reject("SEAL-CONFIG", f"{cert_path} 是 SM2 证书，但 {key_path} 不是 SM2 私钥 / an SM2 certificate with a non-SM2 key")
    try:
        key = serialization.load_pem_private_key(key_bytes, None)
    except (ValueError, TypeError) as exc:
        raise reject("SEAL-CONFIG", f"{key_path} 不是可读的私钥（{exc}）：请提供未加密的 PEM 私钥 / not a readable private key") from None
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            certs[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise reject("SEAL-CONFIG", f"私钥 {key_path} 与证书 {cert_path} 不匹配（公钥不同） / the key does not match the certificate")
    return LocalKeySigner(key, certs[0], certs[1:], f"key file {key_path}")


def make_signer(spec: str | None = None, pki: DevPKI | None = None, kms_client=None, cert_path: str | None = None):
    """The signer named by ``spec`` (default ``$EARCHIVE_SIGNER`` or ``local-ec``).

    ``cert_path`` is the PEM of a ``kms:`` key (default ``$EARCHIVE_SIGNER_CERT``).
    """
    settings = current()
    spec = spec or settings.signer or ("local-sm2" if profile() == "guomi" else "local-ec")
    development = spec.startswith(("local-", "dev:")) or (spec.startswith("kms:") and not (cert_path or settings.signer_cert))
    if development:
        _refuse_development_in_lambda(f"signer {spec!r}" + (" without a certificate (SignerCertificateParameter)" if spec.startswith("kms:") else ""))
    if spec in ("local-ec", "local-rsa"):
        pki = pki or DevPKI()
        pair = pki.pair("signer-ec" if spec == "local-ec" else "signer-rsa")
        return LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], f"development {spec[6:].upper()} key")
    if spec == "local-ec":  # the ECDSA development TSA whatever the profile (a PDF's timestamps: see pdf_tsa)
        spec = "local-ecdsa"
    if spec == "local-sm2":
        return _dev_sm2(pki or DevPKI())
    if spec.startswith("dev:") and spec[4:].replace("-", "").isalnum() and profile() == "guomi":
        return _dev_sm2(pki or DevPKI(), f"party-{spec[4:]}", f"earchive 开发用国密证书 {spec[4:]}", policy=None,
                        description=f"development SM2 key of {spec[4:]}")
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
        signer.certificate, signer.chain = _dev_cert_for_public_key(pki, signer.public_key_der(), f"earchive 开发用 KMS 签名证书 {key_id[:8]}")
        return signer
    if spec.startswith("file:"):
        key_path, _, cert_path = spec[5:].partition(",")
        return _file_signer(key_path, cert_path)
    raise reject("SEAL-CONFIG", f"unknown signer spec {spec!r} (local-ec, local-rsa, local-sm2, kms:ID, file:KEY,CERT, dev:NAME)")


def _dev_cert_for_public_key(pki: DevPKI, public_der: bytes, cn: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """(certificate, chain) of the dev CA for a KMS public key, cached per key (development only).

    An SM2 key (KMS SM2 in China) is certified by the SM2 development intermediate, so its chain is 国密 throughout.
    """
    from .gm_pki import GmDevPKI
    from .pki import issue_certificate

    sm2_public = sm2.public_key_from_der(public_der)
    gm = GmDevPKI(pki) if sm2_public else None
    cache = pki.dir / f"kms-{hashlib.sha256(public_der).hexdigest()[:16]}.pem"
    if not cache.exists():
        with locked(pki.dir):
            if not cache.exists():
                if gm is not None and sm2_public:
                    ca_key = sm2.load_private_key((gm.dir / "intermediate.key.pem").read_bytes())
                    cert = sm2.issue_certificate(sm2_public, cn, ca_key, gm.intermediate_cert(), policy=DEV_SEAL_POLICY)
                else:
                    cert = issue_certificate(cn, serialization.load_der_public_key(public_der), pki.ca_key(), pki.ca_cert(),
                                             policy=DEV_SEAL_POLICY)
                write_atomic(cache, cert.public_bytes(serialization.Encoding.PEM))
    return x509.load_pem_x509_certificate(cache.read_bytes()), (gm.chain() if gm is not None else [pki.ca_cert()])


def make_tsa(spec: str | None = None, pki: DevPKI | None = None) -> TimestampAuthority:
    """The TSA named by ``spec`` (default ``$EARCHIVE_TSA`` or ``local``)."""
    spec = spec or current().tsa or "local"
    if spec == "local" and profile() == "guomi":
        spec = "local-sm2"
    if spec == "local-ec":  # the ECDSA development TSA whatever the profile (a PDF's timestamps: see pdf_tsa)
        spec = "local-ecdsa"
    if spec == "local-sm2":
        _refuse_development_in_lambda("the development TSA (TsaUrl=local)")
        return LocalTSA(_dev_sm2(pki or DevPKI(), "tsa-sm2", "earchive 开发用国密时间戳 (dev SM2 TSA)", policy=None,
                                 timestamping=True, description="development SM2 TSA key"), "local development SM2 TSA")
    if spec in ("local", "local-ecdsa"):
        _refuse_development_in_lambda("the development TSA (TsaUrl=local)")
        pki = pki or DevPKI()
        pair = pki.pair("tsa")
        return LocalTSA(LocalKeySigner(pair.key, pair.cert, [pki.ca_cert()], "development TSA key"))
    if spec.startswith(("http://", "https://")):
        return HttpTSA(spec)
    raise reject("SEAL-CONFIG", f"unknown TSA spec {spec!r} (local, local-ec, local-sm2 or an http(s) URL)")


def pdf_tsa(tsa: TimestampAuthority) -> TimestampAuthority:
    """The TSA a PDF's timestamps come from: never an SM2 one, since pyHanko (which validates the printed lists) has no SM2.

    ``EARCHIVE_PDF_TSA`` when set; else ``tsa`` itself unless it is SM2 (asked in SM3, or any HTTP TSA of a 国密
    deployment); else, for the development SM2 TSA, the ECDSA development TSA. A 国密 deployment with a real SM2 TSA
    must name an RSA/ECDSA one for its PDFs (template parameter PdfTsaUrl), and is told so.
    """
    spec = current().pdf_tsa
    if spec:
        return make_tsa(spec if spec != "local" else "local-ec")
    sm2_tsa = getattr(tsa, "imprint_algorithm", None) == "sm3" or (isinstance(tsa, HttpTSA) and profile() == "guomi")
    if not sm2_tsa:
        return tsa
    if isinstance(tsa, LocalTSA):
        return make_tsa("local-ec")
    raise reject("SEAL-CONFIG", "PDF 时间戳需 RSA/ECDSA 时间戳服务（pyHanko 不支持 SM2）：请设置 PdfTsaUrl（EARCHIVE_PDF_TSA） / "
                                "the printed lists' timestamps need an RSA/ECDSA TSA: set PdfTsaUrl (EARCHIVE_PDF_TSA)")


def _refuse_development_in_lambda(what: str) -> None:
    """No development key in production (review F4): in a Lambda, a development CA never signs, unless the stack says so."""
    settings = current()
    if settings.lambda_function and not settings.allow_development_keys:
        raise reject("SEAL-CONFIG", f"{what} would sign with a development CA in Lambda {settings.lambda_function}; configure the "
                                    "real certificate (and TsaUrl), or deploy with AllowDevelopmentKeys=true to try the stack out")


def default_trust_path() -> Path:
    """Both development roots, ECDSA and SM2 (what ``verify`` trusts without ``--trust``)."""
    from .gm_pki import trust_bundle

    return trust_bundle(DevPKI(earchive_home()))
