"""SM2 signatures (GB/T 32918) for the seal, via the pure-Python ``gmssl``.

``cryptography`` has no SM2 curve, so keys and certificates are handled here:
one signature per package (about 5 ms in pure Python) is cheap enough, and a
pure-Python wheel runs on any Lambda architecture. Signatures use the default
distinguishing ID ``1234567812345678`` (GM/T 0009), which is what
``openssl ... -sigopt distid:1234567812345678`` expects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from asn1crypto import algos, core, keys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from gmssl import sm2 as gm

CURVE_OID = "1.2.156.10197.1.301"
SIGN_OID = "1.2.156.10197.1.501"
_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def generate_private_key() -> str:
    """A new private key as 64 hex digits."""
    return f"{secrets.randbelow(_N - 2) + 1:064x}"


def public_key_hex(private_hex: str) -> str:
    """x‖y (128 hex digits) of the public key of ``private_hex``."""
    crypt = gm.CryptSM2(private_key=private_hex, public_key="")
    return crypt._kg(int(private_hex, 16), gm.default_ecc_table["g"])


def sign(private_hex: str, data: bytes) -> bytes:
    """DER ECDSA-style (r, s) SM2 signature over ``data`` (Z-value and SM3 included)."""
    crypt = gm.CryptSM2(private_key=private_hex, public_key=public_key_hex(private_hex))
    rs = crypt.sign_with_sm3(data, f"{secrets.randbelow(_N - 2) + 1:064x}")
    return algos.DSASignature({"r": int(rs[:64], 16), "s": int(rs[64:], 16)}).dump()


def verify(public_hex: str, signature_der: bytes, data: bytes) -> bool:
    """True when the DER (r, s) signature over ``data`` verifies; r and s must lie in [1, n-1] (GB/T 32918.2 §7.1)."""
    try:
        sig = algos.DSASignature.load(signature_der)
        r, s = sig["r"].native, sig["s"].native
        if not (isinstance(r, int) and isinstance(s, int) and 1 <= r < _N and 1 <= s < _N):
            return False
        if sig.dump() != signature_der:  # no trailing or re-encoded bytes: one signature, one encoding
            return False
        rs = f"{r:064x}{s:064x}"
    except (ValueError, TypeError):
        return False
    return bool(gm.CryptSM2(private_key="", public_key=public_hex).verify_with_sm3(rs, data))


def _spki(public_hex: str) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": keys.ECDomainParameters(name="named", value=CURVE_OID),
            },
            "public_key": bytes.fromhex("04" + public_hex),
        }
    )


def public_key_from_cert(cert: x509.Certificate) -> str:
    spki = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"]
    point = spki["public_key"].native
    return point[1:].hex() if isinstance(point, bytes) else spki["public_key"].contents[2:].hex()


def issue_certificate(public_hex: str, subject_cn: str, ca_key, ca_cert: x509.Certificate, years: int = 20,
                      policy: str | None = None) -> x509.Certificate:
    """A certificate for an SM2 key, signed by an ECDSA CA (cryptography cannot build it)."""
    ca = ax509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    subject = ax509.Name.build(
        {"country_name": "CN", "organization_name": "earchive 开发用 (development only)", "common_name": subject_cn}
    )
    spki = _spki(public_hex)
    ski = hashlib.sha1(bytes.fromhex("04" + public_hex)).digest()  # noqa: S324 - RFC 5280 §4.2.1.2 key id method
    tbs = ax509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(63),
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": ca.subject,
            "validity": {
                "not_before": ax509.Time({"utc_time": core.UTCTime(now)}),
                "not_after": ax509.Time({"general_time": core.GeneralizedTime(now + dt.timedelta(days=365 * years))}),
            },
            "subject": subject,
            "subject_public_key_info": spki,
            "extensions": [
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
                {"extn_id": "key_usage", "critical": True, "extn_value": {"digital_signature", "non_repudiation"}},
                {"extn_id": "key_identifier", "critical": False, "extn_value": ski},
                {"extn_id": "authority_key_identifier", "critical": False,
                 "extn_value": {"key_identifier": ca.key_identifier_value.native if ca.key_identifier_value else ski}},
                *([{"extn_id": "certificate_policies", "critical": False, "extn_value": [{"policy_identifier": policy}]}]
                  if policy else []),
            ],
        }
    )
    signature = ca_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    cert = ax509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature_value": signature}
    )
    return x509.load_der_x509_certificate(cert.dump())
