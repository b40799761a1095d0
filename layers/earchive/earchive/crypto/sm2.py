"""SM2 signatures (GB/T 32918) for the seal, via the pure-Python ``gmssl``.

``cryptography`` has no SM2 curve, so keys and certificates are handled here:
one signature per package (about 15 ms to sign or verify in pure Python) is cheap enough, and a
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
# Known by name to asn1crypto (also registered by .cms), so certificates and CMS round-trip "sm2_sm3".
algos.SignedDigestAlgorithmId._map.setdefault(SIGN_OID, "sm2_sm3")
algos.SignedDigestAlgorithmId._reverse_map = None
if CURVE_OID not in keys.NamedCurve._map:
    keys.NamedCurve.register("sm2p256v1", CURVE_OID, 32)  # GM/T 0006's name; its key length lets asn1crypto build SM2 keys
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


def on_curve(public_hex: str) -> bool:
    """True when ``public_hex`` is x‖y (128 hex digits) of a point on the SM2 curve (GB/T 32918.1 §6.2 public key check)."""
    if len(public_hex) != 128 or any(c not in "0123456789abcdefABCDEF" for c in public_hex):
        return False
    p, a, b = (int(gm.default_ecc_table[k], 16) for k in ("p", "a", "b"))
    x, y = int(public_hex[:64], 16), int(public_hex[64:], 16)
    return 0 <= x < p and 0 <= y < p and (x, y) != (0, 0) and (y * y - (x * x * x + a * x + b)) % p == 0


def verify(public_hex: str, signature_der: bytes, data: bytes) -> bool:
    """True when the DER (r, s) signature over ``data`` verifies; r and s must lie in [1, n-1] (GB/T 32918.2 §7.1).

    Never raises: a key off the curve, a signature that is not exactly DER, or anything gmssl trips on is False.
    """
    if not on_curve(public_hex):
        return False
    try:
        sig = algos.DSASignature.load(signature_der, strict=True)
        r, s = sig["r"].native, sig["s"].native
        if not (isinstance(r, int) and isinstance(s, int) and 1 <= r < _N and 1 <= s < _N):
            return False
        if sig.dump(force=True) != signature_der:  # DER exactly (no padded integers, long lengths or trailing bytes)
            return False
        rs = f"{r:064x}{s:064x}"
        return bool(gm.CryptSM2(private_key="", public_key=public_hex.lower()).verify_with_sm3(rs, data))
    except Exception:  # noqa: BLE001 - gmssl raises assorted errors on hostile input; a verifier answers, never throws
        return False


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


def public_key_der(public_hex: str) -> bytes:
    """SubjectPublicKeyInfo DER of an SM2 public key (id-ecPublicKey on the SM2 curve), as KMS's GetPublicKey returns it."""
    return _spki(public_hex).dump()


def public_key_from_der(der: bytes) -> str | None:
    """x‖y hex of the SM2 key in a SubjectPublicKeyInfo DER; None when the key is not SM2."""
    info = keys.PublicKeyInfo.load(der)
    if not _is_sm2_key_info(info):
        return None
    point = info["public_key"].native if info["algorithm"]["algorithm"].native == "ec" else info["public_key"].contents[1:]
    return bytes(point)[1:].hex()


def public_key_from_cert(cert: x509.Certificate) -> str:
    spki = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"]
    point = spki["public_key"].native
    return point[1:].hex() if isinstance(point, bytes) else spki["public_key"].contents[2:].hex()


def load_private_key(data: bytes) -> str | None:
    """The SM2 private key (64 hex digits) in a PEM or DER file; None when it holds a key of another kind.

    Reads what OpenSSL and common 国密 tools write: PKCS#8 ``PRIVATE KEY`` whose algorithm is
    id-ecPublicKey with the SM2 curve (``openssl genpkey -algorithm SM2``) or the SM2 OID itself, and
    SEC1 ``EC PRIVATE KEY`` / ``SM2 PRIVATE KEY`` naming the SM2 curve. Raises ValueError when the
    file is not a readable key (encrypted keys included: they are refused, never guessed at).
    """
    from asn1crypto import pem as apem

    kind = ""
    if apem.detect(data):  # the key block; `openssl ecparam -genkey` writes an "SM2 PARAMETERS" block before it
        try:
            blocks = [b for b in apem.unarmor(data, multiple=True) if not b[0].endswith("PARAMETERS")]
        except ValueError as exc:
            raise ValueError(f"not a readable PEM file: {exc}") from None
        if len(blocks) != 1:
            raise ValueError(f"the file holds {len(blocks)} keys, not one")
        kind, headers, data = blocks[0]
        if "ENCRYPTED" in kind or "ENCRYPTED" in headers.get("Proc-Type", ""):
            raise ValueError("the key file is encrypted; give an unencrypted key (a UKey or KMS keeps keys better)")
    try:
        outer = core.Sequence.load(data, strict=True)
        if kind in ("EC PRIVATE KEY", "SM2 PRIVATE KEY") or (not kind and isinstance(outer[1], core.OctetString)):
            return _sec1_sm2(data, curve_known=False)
        algorithm = core.Sequence.load(outer[1].dump())
        oid = core.ObjectIdentifier.load(algorithm[0].dump()).dotted
        curve = core.ObjectIdentifier.load(algorithm[1].dump()).dotted if len(algorithm) > 1 and algorithm[1].tag == 6 else None
        if oid == CURVE_OID or (oid == "1.2.840.10045.2.1" and curve == CURVE_OID):
            return _sec1_sm2(core.OctetString.load(outer[2].dump()).native, curve_known=True)
        return None
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a readable private key: {exc}") from None


def _sec1_sm2(der: bytes, *, curve_known: bool) -> str | None:
    key = keys.ECPrivateKey.load(der, strict=True)
    params = key["parameters"]
    present = not isinstance(params, core.Void)
    named = present and params.name == "named" and params.chosen.dotted == CURVE_OID
    if curve_known and present and not named:  # PKCS#8 says SM2 outside, the key names another curve inside
        raise ValueError("the key's own parameters name another curve than SM2")
    if not curve_known and not named:
        return None
    d = key["private_key"].native
    if not (isinstance(d, int) and 1 <= d < _N - 1):
        raise ValueError("the SM2 private key is out of range")
    return f"{d:064x}"


def private_key_pem(private_hex: str) -> bytes:
    """PKCS#8 PEM of an SM2 key, as ``openssl genpkey -algorithm SM2`` writes it."""
    from asn1crypto import pem as apem

    inner = keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": int(private_hex, 16),
                               "public_key": bytes.fromhex("04" + public_key_hex(private_hex))})
    info = keys.PrivateKeyInfo({
        "version": 0,
        "private_key_algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value=CURVE_OID)},
        "private_key": inner,
    })
    return apem.armor("PRIVATE KEY", info.dump())


def is_sm2_certificate(cert: x509.Certificate) -> bool:
    """True when the certificate's key is an SM2 key (id-ecPublicKey on the SM2 curve, or the SM2 OID as algorithm)."""
    return _is_sm2_key_info(ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["subject_public_key_info"])


def _is_sm2_key_info(info: keys.PublicKeyInfo) -> bool:
    """A SubjectPublicKeyInfo of an SM2 key: id-ecPublicKey on the SM2 curve, or the SM2 OID as the algorithm itself."""
    if info["algorithm"]["algorithm"].dotted == CURVE_OID:
        return True
    params = info["algorithm"]["parameters"]
    return info["algorithm"]["algorithm"].native == "ec" and params.name == "named" and params.chosen.dotted == CURVE_OID


def certificate_signature_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why ``issuer``'s SM2 key did not sign ``cert`` (SM3withSM2, default ID, GM/T 0010); None when it did."""
    if cert.signature_algorithm_oid.dotted_string != SIGN_OID:
        return f"not an SM3withSM2 certificate ({cert.signature_algorithm_oid.dotted_string})"
    inner = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))["tbs_certificate"]["signature"]["algorithm"].dotted
    if inner != SIGN_OID:  # RFC 5280 §4.1.1.2: the signed body names the same algorithm as the outside
        return f"the certificate body names {inner} but it is signed with SM3withSM2 (RFC 5280 §4.1.1.2)"
    if not is_sm2_certificate(issuer):
        return "signed with SM3withSM2, but the issuer's key is not an SM2 key"
    return None if verify(public_key_from_cert(issuer), cert.signature, cert.tbs_certificate_bytes) else "the SM2 signature does not verify"


def issue_certificate(public_hex: str, subject_cn: str, ca_key, ca_cert: x509.Certificate | None, years: int = 20,
                      policy: str | None = None, *, is_ca: bool = False, path_length: int | None = None,
                      timestamping: bool = False) -> x509.Certificate:
    """A certificate for an SM2 key, signed by an SM2 CA (``ca_key`` 64 hex digits: SM3withSM2) or an ECDSA one.

    ``ca_cert`` None makes it self-signed (``ca_key`` is then the key of ``public_hex``). cryptography
    cannot build either, so the TBS is built here with asn1crypto.
    """
    ca = ax509.Certificate.load(ca_cert.public_bytes(serialization.Encoding.DER)) if ca_cert is not None else None
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    subject = ax509.Name.build(
        {"country_name": "CN", "organization_name": "earchive 开发用 (development only)", "common_name": subject_cn}
    )
    ski = hashlib.sha1(bytes.fromhex("04" + public_hex)).digest()  # noqa: S324 - RFC 5280 §4.2.1.2 key id method
    aki = (ca.key_identifier_value.native if ca is not None and ca.key_identifier_value else None) or ski
    sm2_ca = isinstance(ca_key, str)
    algorithm = "sm2_sm3" if sm2_ca else "sha256_ecdsa"
    usage = {"key_cert_sign", "crl_sign", "digital_signature"} if is_ca else {"digital_signature", "non_repudiation"}
    extensions = [
        {"extn_id": "basic_constraints", "critical": True,
         "extn_value": {"ca": is_ca, **({"path_len_constraint": path_length} if is_ca and path_length is not None else {})}},
        {"extn_id": "key_usage", "critical": True, "extn_value": usage},
        {"extn_id": "key_identifier", "critical": False, "extn_value": ski},
        {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": aki}},
    ]
    if timestamping:
        extensions.append({"extn_id": "extended_key_usage", "critical": True, "extn_value": ["time_stamping"]})
    if policy:
        extensions.append({"extn_id": "certificate_policies", "critical": False, "extn_value": [{"policy_identifier": policy}]})
    tbs = ax509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": secrets.randbits(63),
            "signature": {"algorithm": algorithm},
            "issuer": ca.subject if ca is not None else subject,
            "validity": {
                "not_before": ax509.Time({"utc_time": core.UTCTime(now)}),
                "not_after": ax509.Time({"general_time": core.GeneralizedTime(now + dt.timedelta(days=365 * years))}),
            },
            "subject": subject,
            "subject_public_key_info": _spki(public_hex),
            "extensions": extensions,
        }
    )
    signature = sign(ca_key, tbs.dump()) if sm2_ca else ca_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    cert = ax509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": algorithm}, "signature_value": signature})
    return x509.load_der_x509_certificate(cert.dump())
