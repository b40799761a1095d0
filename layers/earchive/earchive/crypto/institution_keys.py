"""The receiving institution's reply-signing key and certificate, made on its own machine (``earchive receive init``).

Two kinds of key: ECDSA P-256 (what browsers, UKeys and pyHanko sign with) and SM2 (``--sm2``, what a 国密 CA
certifies). Both come with a PKCS#10 request for the institution's CA and, until the CA answers, a self-signed
development certificate. The SM2 key file is a standard PKCS#8 PEM (``id-ecPublicKey`` with the SM2 curve, as
``openssl genpkey -algorithm SM2`` writes it), so the institution's own 国密 tools read it too; the CSR is signed
SM3withSM2 with the default distinguishing ID (GM/T 0009), which ``openssl req -verify -vfyopt distid:…`` accepts.

The certificates carry the extensions validators ask of a signer (audit D14): basicConstraints (critical),
subjectKeyIdentifier, authorityKeyIdentifier and keyUsage digitalSignature + nonRepudiation (critical).

Until the CA answers, the development certificate is **not self-signed**: a one-use development issuer (CA:TRUE,
pathLen 0, keyCertSign only) certifies the reply key as an end entity (CA:FALSE), and its own key is discarded as
soon as it has signed, so it can never certify anything else. Why not a self-signed certificate: ``pdfsig`` (poppler,
NSS's libpkix path check, ``CERT_PKIXVerifyCert``) trusts a self-signed signer only as a CA — trusted as a peer
(``certutil -t P,P,P``) or with CA:FALSE it reports "Unknown issue with Certificate" or "issuer is unknown" (measured
with poppler 22.12 / NSS 3.87, although ``certutil -V`` calls the peer valid). A self-signed CA:TRUE reply key would
let the institution's signing key issue certificates that anyone trusting it accepts. With the one-use issuer, trusting
it (``certutil -t C,C,C``) trusts exactly this leaf; the archive pins the leaf itself (``institution add``), as before.
The certificate file holds the leaf, then the issuer (tests/unit/test_institution_keys.py runs certutil and pdfsig).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from asn1crypto import core, csr, keys, pem
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import sm2

SM2_WITH_SM3 = "1.2.156.10197.1.501"
DEVELOPMENT_TITLE = "开发用 development only"
VALID_DAYS = 730


def subject(name: str, code: str, *, development: bool = False) -> x509.Name:
    """The institution's name as its certificates and requests carry it (the development certificate says so)."""
    from cryptography.x509.oid import NameOID

    parts = [x509.NameAttribute(NameOID.COMMON_NAME, f"{name} 接收回执签名"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, code), x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    return x509.Name([*parts, x509.NameAttribute(NameOID.TITLE, DEVELOPMENT_TITLE)] if development else parts)


def _issuer_name(name: str, code: str) -> x509.Name:
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{code} 回执证书开发用签发者"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, name), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, code),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.TITLE, DEVELOPMENT_TITLE)])


# -- ECDSA P-256 (cryptography builds it)

def ec_key_and_certificates(name: str, code: str) -> tuple[bytes, bytes, bytes]:
    """(PKCS#8 key PEM, CSR PEM, development certificate and its one-use issuer, PEM) for a new ECDSA P-256 key."""
    private = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    request = (x509.CertificateSigningRequestBuilder().subject_name(subject(name, code)).add_extension(usage, critical=True)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).sign(private, hashes.SHA256()))
    issuer_key = ec.generate_private_key(ec.SECP256R1())  # one use: it signs the two certificates below, then is dropped
    issuer_name = _issuer_name(name, code)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    issuer_ski = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key())
    issuer = (x509.CertificateBuilder().subject_name(issuer_name).issuer_name(issuer_name).public_key(issuer_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True)
              .add_extension(issuer_ski, critical=False).sign(issuer_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(subject(name, code, development=True)).issuer_name(issuer_name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True).add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    key_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pems = cert.public_bytes(serialization.Encoding.PEM) + issuer.public_bytes(serialization.Encoding.PEM)
    return key_pem, request.public_bytes(serialization.Encoding.PEM), pems


# -- SM2 (asn1crypto builds it, earchive.crypto.sm2 signs)

def load_sm2_key(data: bytes) -> str | None:
    """The private key (64 hex digits) of an SM2 key file (PKCS#8 or SEC1, :func:`earchive.crypto.sm2.load_private_key`);
    None when it holds another kind of key or none at all."""
    try:
        return sm2.load_private_key(data)
    except ValueError:
        return None


def _sm2_curve() -> keys.ECDomainParameters:
    return keys.ECDomainParameters(name="named", value=sm2.CURVE_OID)


def _sm2_spki(private_hex: str) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo({"algorithm": {"algorithm": "ec", "parameters": _sm2_curve()},
                               "public_key": bytes.fromhex("04" + sm2.public_key_hex(private_hex))})


def _aname(name: x509.Name) -> ax509.Name:
    return ax509.Name.load(name.public_bytes())


def _signer_extensions(ski: bytes, *, authority: bytes | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
        {"extn_id": "key_usage", "critical": True, "extn_value": {"digital_signature", "non_repudiation"}},
        {"extn_id": "key_identifier", "critical": False, "extn_value": ski},
    ]
    if authority is not None:
        out.append({"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": authority}})
    return out


def sm2_request(private_hex: str, name: x509.Name) -> bytes:
    """A PKCS#10 request (PEM) for an SM2 key, signed SM3withSM2 (default distinguishing ID), asking for a signing certificate."""
    info = csr.CertificationRequestInfo({
        "version": "v1", "subject": _aname(name), "subject_pk_info": _sm2_spki(private_hex),
        "attributes": [{"type": "extension_request", "values": [[e for e in _signer_extensions(b"", authority=None)
                                                                  if e["extn_id"] != "key_identifier"]]}],
    })
    request = csr.CertificationRequest({"certification_request_info": info, "signature_algorithm": {"algorithm": SM2_WITH_SM3},
                                        "signature": sm2.sign(private_hex, info.dump())})
    return pem.armor("CERTIFICATE REQUEST", request.dump())


def _sm2_certificate(private_hex: str, name: x509.Name, issuer_hex: str, issuer: x509.Name, extensions: list[dict[str, Any]]) -> bytes:
    """A certificate (PEM) for the SM2 key ``private_hex``, signed SM3withSM2 by the SM2 key ``issuer_hex``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    tbs = ax509.TbsCertificate({
        "version": "v3", "serial_number": secrets.randbits(63) | 1, "signature": {"algorithm": SM2_WITH_SM3},
        "issuer": _aname(issuer), "subject": _aname(name), "subject_public_key_info": _sm2_spki(private_hex),
        "validity": {"not_before": ax509.Time({"utc_time": core.UTCTime(now)}),
                     "not_after": ax509.Time({"utc_time": core.UTCTime(now + dt.timedelta(days=VALID_DAYS))})},
        "extensions": extensions,
    })
    cert = ax509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": SM2_WITH_SM3},
                              "signature_value": sm2.sign(issuer_hex, tbs.dump())})
    return pem.armor("CERTIFICATE", cert.dump())


def _sm2_ski(private_hex: str) -> bytes:
    return hashlib.sha1(bytes.fromhex("04" + sm2.public_key_hex(private_hex))).digest()  # noqa: S324 - RFC 5280 §4.2.1.2 key id


def sm2_development_certificates(private_hex: str, name: str, code: str) -> bytes:
    """The development certificate (PEM) of an SM2 key and, after it, its one-use SM2 issuer (the module says why)."""
    issuer_hex, issuer_name = sm2.generate_private_key(), _issuer_name(name, code)  # dropped when this returns
    issuer_ski = _sm2_ski(issuer_hex)
    issuer = _sm2_certificate(issuer_hex, issuer_name, issuer_hex, issuer_name, [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True, "path_len_constraint": 0}},
        {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign"}},
        {"extn_id": "key_identifier", "critical": False, "extn_value": issuer_ski}])
    leaf = _sm2_certificate(private_hex, subject(name, code, development=True), issuer_hex, issuer_name,
                            _signer_extensions(_sm2_ski(private_hex), authority=issuer_ski))
    return leaf + issuer


def sm2_key_and_certificates(name: str, code: str) -> tuple[bytes, bytes, bytes]:
    """(PKCS#8 key PEM, CSR PEM, development certificate and its one-use issuer, PEM) for a new SM2 key."""
    d = sm2.generate_private_key()
    return sm2.private_key_pem(d), sm2_request(d, subject(name, code)), sm2_development_certificates(d, name, code)


# -- installing what the CA returns

def _public_key_der(cert: x509.Certificate) -> bytes:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"].dump()


def key_public_der(key_pem: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo (DER) of a PEM private key: SM2 or any key ``cryptography`` reads; None when unreadable."""
    d = load_sm2_key(key_pem)
    if d is not None:
        return _sm2_spki(d).dump()
    try:
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError):
        return None
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def installation_problems(key_pem: bytes, certs: list[x509.Certificate], at: dt.datetime | None = None) -> list[str]:
    """Why ``certs`` (the CA's answer: the leaf first, then its chain) cannot be installed for ``key_pem`` (empty: they can)."""
    from .identity import signing_use_problems

    if not certs:
        return ["证书文件中没有证书 / no certificate in the file"]
    leaf, at = certs[0], at or dt.datetime.now(dt.UTC)
    spki = key_public_der(key_pem)
    out = []
    if spki is None:
        out.append("本机签名私钥无法读取 / the key on this machine cannot be read")
    elif _canonical_spki(_public_key_der(leaf)) != _canonical_spki(spki):
        out.append(f"证书 {leaf.subject.rfc4514_string()} 的公钥与本机签名私钥不匹配 / the certificate is not for this machine's key")
    out += [f"证书不能用于签署回执：{p}" for p in signing_use_problems(leaf)]
    if not (leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc):
        out.append(f"证书不在有效期内（{leaf.not_valid_before_utc:%Y-%m-%d}—{leaf.not_valid_after_utc:%Y-%m-%d}）/ not valid now")
    return out


def _canonical_spki(der: bytes) -> bytes:
    """SubjectPublicKeyInfo compared by algorithm, curve and point: NULL vs absent parameters never decide."""
    info = keys.PublicKeyInfo.load(der)
    params = info["algorithm"]["parameters"]
    curve = params.chosen.dotted if isinstance(params, keys.ECDomainParameters) and params.name == "named" else None
    return repr((info["algorithm"]["algorithm"].dotted, curve, info["public_key"].contents)).encode()


__all__ = ["ec_key_and_certificates", "installation_problems", "key_public_der", "load_sm2_key", "sm2_development_certificates",
           "sm2_key_and_certificates", "sm2_request", "subject"]
