"""CMS SignedData (RFC 5652) built and verified with asn1crypto + cryptography.

One code path serves every signer: the signed attributes are built here and
only their DER is handed to the signer, so a local key, an AWS KMS key
(RAW signing) and an SM2 key all produce the same structure, which stock
``openssl cms -verify`` and ``openssl ts -verify`` accept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .chain import UNSUPPORTED, issued_by_problem, verify_chain

__all__ = ["UNSUPPORTED", "SignatureCheck", "Signer", "issued_by_problem", "signed_data", "verify_chain", "verify_signed_data"]

SM3_OID = "1.2.156.10197.1.401"
SM2_SIGN_OID = "1.2.156.10197.1.501"  # SM2 signature with SM3
SM2_CURVE_OID = "1.2.156.10197.1.301"

# Teach asn1crypto the national algorithms so it round-trips them by name.
algos.DigestAlgorithmId._map.setdefault(SM3_OID, "sm3")
algos.DigestAlgorithmId._reverse_map = None
algos.SignedDigestAlgorithmId._map.setdefault(SM2_SIGN_OID, "sm2_sm3")
algos.SignedDigestAlgorithmId._reverse_map = None


class Signer(Protocol):
    """Anything that can sign bytes with a key whose certificate it holds."""

    digest_algorithm: str  # asn1crypto name: 'sha256' or 'sm3'
    signature_algorithm: str  # asn1crypto name: 'sha256_ecdsa', 'sha256_rsa', 'sm2_sm3'
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    description: str

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the DER of the signed attributes); hashing is the signer's."""
        ...


def digest(name: str, data: bytes) -> bytes:
    if name == "sm3":
        return hashlib.new("sm3", data).digest() if "sm3" in hashlib.algorithms_available else _sm3(data)
    return hashlib.new(name.replace("_", ""), data).digest()


def _sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _acert(cert: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@lru_cache(maxsize=16)
def _ess_der(leaf_der: bytes, hash_algorithm: str = "sha256") -> bytes:
    """The ESS signing-certificate-v2 attribute value for a certificate (costly in asn1crypto, so cached).

    Its hash is the signature's digest: SM3 for an SM2 signer, so no SHA-256 stands in a 国密 signature.
    """
    leaf = ax509.Certificate.load(leaf_der)
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": hash_algorithm},
                    "cert_hash": digest(hash_algorithm, leaf_der),
                    "issuer_serial": {
                        "issuer": [ax509.GeneralName(name="directory_name", value=ax509.Name.load(leaf.issuer.dump()))],
                        "serial_number": leaf.serial_number,
                    },
                }
            ]
        }
    ).dump()


def signed_data(
    signer: Signer,
    *,
    content: bytes,
    content_type: str = "data",
    detached: bool = True,
    signing_time: dt.datetime | None = None,
    include_chain: bool = True,
) -> cms.ContentInfo:
    """A SignedData over ``content`` with the usual signed attributes (incl. ESS cert id v2)."""
    attrs = signed_attributes(signer.certificate, signer.digest_algorithm, content, content_type=content_type, signing_time=signing_time)
    return assemble(signer.certificate, signer.chain if include_chain else [], signer.digest_algorithm, signer.signature_algorithm,
                    attrs, signer.sign(attrs), content=content, content_type=content_type, detached=detached)


def signed_attributes(certificate: x509.Certificate, digest_algorithm: str, content: bytes, *, content_type: str = "data",
                      signing_time: dt.datetime | None = None) -> bytes:
    """The DER of the signed attributes a signature over ``content`` signs: step one where the key is elsewhere (a UKey, a browser)."""
    signing_time = signing_time or dt.datetime.now(dt.UTC)
    ess = tsp.SigningCertificateV2.load(_ess_der(certificate.public_bytes(serialization.Encoding.DER),
                                                 "sm3" if digest_algorithm == "sm3" else "sha256"))
    return cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(signing_time)})]},
            {"type": "message_digest", "values": [digest(digest_algorithm, content)]},
            {"type": "signing_certificate_v2", "values": [ess]},
        ]
    ).dump()


def assemble(certificate: x509.Certificate, chain: list[x509.Certificate], digest_algorithm: str, signature_algorithm: str,
             attrs: bytes, signature: bytes, *, content: bytes, content_type: str = "data", detached: bool = True) -> cms.ContentInfo:
    """Step two: the SignedData of ``attrs`` (from :func:`signed_attributes`) and the signature made over them."""
    leaf_der = certificate.public_bytes(serialization.Encoding.DER)
    leaf = ax509.Certificate.load(leaf_der)
    # Fresh, untouched copies: asn1crypto re-encodes any object whose fields were
    # read, which for certificates costs milliseconds per signature.
    issuer, serial = ax509.Name.load(leaf.issuer.dump()), leaf.serial_number
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {"issuer_and_serial_number": {"issuer": issuer, "serial_number": serial}}
            ),
            "digest_algorithm": {"algorithm": digest_algorithm},
            "signed_attrs": cms.CMSAttributes.load(attrs),
            "signature_algorithm": {"algorithm": signature_algorithm},
            "signature": signature,
        }
    )
    certs = [ax509.Certificate.load(leaf_der)] + [_acert(c) for c in chain]
    encap: dict[str, object] = {"content_type": content_type}
    if not detached:
        encap["content"] = cms.ParsableOctetString(content)
    sd = cms.SignedData(
        {
            "version": "v3" if content_type != "data" else "v1",
            "digest_algorithms": [{"algorithm": digest_algorithm}],
            "encap_content_info": encap,
            "certificates": certs,
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": sd})


def ecdsa_der(raw: bytes) -> bytes:
    """An ECDSA signature as CMS carries it (DER) from the raw r‖s form WebCrypto and many devices return (IEEE P1363)."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(raw) % 2 or not raw:
        raise ValueError(f"an r‖s ECDSA signature has an even, non-zero length, not {len(raw)}")
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


@dataclass
class SignatureCheck:
    """What verifying one SignedData found; ``errors`` empty means valid."""

    errors: list[str] = field(default_factory=list)
    chain_errors: list[str] = field(default_factory=list)
    signer_subject: str = ""
    signing_time: dt.datetime | None = None
    signer_cert: x509.Certificate | None = None
    algorithm: str = ""
    chain_checked: bool = False  # True once the chain was walked (its verdict is chain_errors)
    path: list[x509.Certificate] = field(default_factory=list)  # the certificates walked, leaf first

    @property
    def ok(self) -> bool:
        return not self.errors and not self.chain_errors


def _verify_raw(cert: x509.Certificate, signature_algorithm: str, signature: bytes, data: bytes, digest_alg: str) -> None:
    """Raise InvalidSignature unless ``signature`` over ``data`` verifies with ``cert``.

    The algorithm is the certificate's: the SignerInfo's (unsigned) algorithm field must agree with
    the key, never choose the verifier.
    """
    if _is_sm2_cert(cert):
        from . import sm2

        if signature_algorithm != "sm2_sm3" or digest_alg != "sm3":
            raise InvalidSignature(f"an SM2 key signs with sm2_sm3/sm3, not {signature_algorithm}/{digest_alg}")
        if not sm2.verify(sm2.public_key_from_cert(cert), signature, data):
            raise InvalidSignature("SM2 signature does not verify")
        return
    if signature_algorithm == "sm2_sm3":
        raise InvalidSignature("the SignerInfo says sm2_sm3 but the certificate's key is not an SM2 key")
    try:
        pub = cert.public_key()
    except UnsupportedAlgorithm as exc:
        raise InvalidSignature(f"the signer's key uses an unsupported algorithm: {exc}") from None
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}.get(digest_alg)
    if h is None:
        raise InvalidSignature(f"digest {digest_alg} not accepted for this key")
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(signature, data, ec.ECDSA(h))
    elif isinstance(pub, rsa.RSAPublicKey):
        pub.verify(signature, data, padding.PKCS1v15(), h)
    else:
        raise InvalidSignature(f"unsupported key type {type(pub).__name__}")


def value_problem(cert: x509.Certificate, signature_algorithm: str, signature: bytes, data: bytes, digest_algorithm: str) -> str | None:
    """Why ``signature`` (made elsewhere: a browser, a device) over ``data`` does not verify with ``cert`` (None: it does)."""
    try:
        _verify_raw(cert, signature_algorithm, signature, data, digest_algorithm)
    except (InvalidSignature, ValueError) as exc:
        return str(exc) or "the signature does not verify with this certificate (another key?)"
    return None


def _is_sm2_cert(cert: x509.Certificate) -> bool:
    from . import sm2

    return sm2.is_sm2_certificate(cert)


SINGLE_VALUED = ("content_type", "message_digest", "signing_time")  # RFC 5652 §11: one value each (and each attribute once)


def attribute_problems(attrs: Any) -> list[str]:
    """Why a SignerInfo's signed attributes are not one unambiguous DER SET (empty: they are).

    The signature covers their exact bytes, but readers act on the attributes they parse: a repeated messageDigest
    (one reader keeps the first, another the last), an unsorted SET or a BER length (OpenSSL re-encodes in DER
    and its signature check fails) would let one signature mean two things. So: DER exactly as received (asn1crypto
    re-encodes and sorts), every attribute type once, and contentType, messageDigest and signingTime single-valued.
    """
    raw = b"\x31" + attrs.dump()[1:]  # as signed: the [0] IMPLICIT tag read as the SET it stands for
    try:
        again = cms.CMSAttributes.load(raw).dump(force=True)
    except (ValueError, TypeError) as exc:
        return [f"signed attributes: not DER ({exc})"]
    out = []
    if again != raw:
        out.append("signed attributes: not a DER-sorted SET (order, lengths or encodings differ from DER) / 签名属性不是 DER 编码")
    seen: dict[str, int] = {}
    for a in attrs:
        kind = a["type"].dotted if a["type"].native == a["type"].dotted else a["type"].native
        seen[kind] = seen.get(kind, 0) + 1
        if kind in SINGLE_VALUED and len(a["values"]) != 1:
            out.append(f"signed attributes: {kind} has {len(a['values'])} values, RFC 5652 allows one")
    out += [f"signed attributes: {kind} appears {n} times, RFC 5652 allows one" for kind, n in seen.items() if n > 1]
    return out


def verify_signed_data(
    info: cms.ContentInfo,
    anchors: list[x509.Certificate],
    *,
    content: bytes | None = None,
    require_eku: str | None = None,
    at: dt.datetime | None = None,
) -> SignatureCheck:
    """Verify one-signer SignedData: digest attr, signature, certificate chain, EKU.

    The chain is checked at ``at`` (a trusted time, e.g. the timestamp's) when given, else at the
    signer's own claimed signing time.
    """
    result = SignatureCheck()
    try:
        if info["content_type"].native != "signed_data":
            result.errors.append("not a CMS SignedData")
            return result
        sd = info["content"]
        if content is None:
            content = sd["encap_content_info"]["content"].contents if sd["encap_content_info"]["content"] else None
        if content is None:
            result.errors.append("detached signature given without its content")
            return result
        signer_infos = sd["signer_infos"]
        if len(signer_infos) != 1:
            result.errors.append(f"expected one signer, found {len(signer_infos)}")
            return result
        si = signer_infos[0]
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in (sd["certificates"] or [])
            if c.name == "certificate"
        ]
        sid = si["sid"].chosen
        leaf = next(
            (c for c in certs if c.serial_number == sid["serial_number"].native
             and c.issuer.public_bytes() == sid["issuer"].dump()),
            None,
        )
        if leaf is None:
            result.errors.append("signer certificate not included")
            return result
        result.signer_cert = leaf
        result.signer_subject = leaf.subject.rfc4514_string()
        digest_alg = si["digest_algorithm"]["algorithm"].native
        sig_alg = si["signature_algorithm"]["algorithm"].native
        result.algorithm = f"{sig_alg}/{digest_alg}"
        _check_chain(result, leaf, [c for c in certs if c is not leaf], anchors, at, si["signed_attrs"])
        attrs = si["signed_attrs"]
        if not attrs:
            result.errors.append("no signed attributes")
            return result
        strict = attribute_problems(attrs)
        if strict:  # one encoding, one meaning (issue 21): what a stricter verifier (OpenSSL) refuses is refused here too
            result.errors += strict
            return result
        by_type = {a["type"].native: a["values"] for a in attrs}
        claimed = by_type.get("content_type")
        if claimed is None or claimed[0].native != sd["encap_content_info"]["content_type"].native:  # RFC 5652 §5.3 (OpenSSL, BC)
            result.errors.append("signed attributes: the contentType attribute is missing or differs from the content's type")
            return result
        if by_type.get("message_digest") is None or by_type["message_digest"][0].native != digest(digest_alg, content):
            result.errors.append("message digest does not match the signed content (content altered)")
        st = by_type.get("signing_time")
        result.signing_time = st[0].native if st else None
        signed_bytes = b"\x31" + attrs.dump()[1:]  # signed as a SET, stored as [0] IMPLICIT
        try:
            _verify_raw(leaf, sig_alg, si["signature"].native, signed_bytes, digest_alg)
        except (InvalidSignature, ValueError) as exc:
            result.errors.append(f"signature does not verify: {exc or 'invalid signature'}")
        if require_eku:
            try:
                eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
                if not eku.critical or [o.dotted_string for o in eku.value] != [require_eku]:
                    result.errors.append("signer certificate lacks the critical timeStamping key purpose")
            except x509.ExtensionNotFound:
                result.errors.append("signer certificate lacks the timeStamping key purpose")
    except (ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:
        result.errors.append(f"malformed CMS structure: {exc}")
    return result


def _check_chain(result: SignatureCheck, leaf: x509.Certificate, others: list[x509.Certificate], anchors: list[x509.Certificate],
                 at: dt.datetime | None, attrs: Any) -> None:
    """Walk the chain whatever becomes of the signature, so a chain test never passes a chain nobody walked (review of issue 23).

    At ``at`` (a trusted time) when given, else at the signer's claimed signingTime, else now.
    """
    claimed = None
    if at is None:
        try:
            claimed = next((a["values"][0].native for a in attrs or [] if a["type"].native == "signing_time"), None)
        except (ValueError, TypeError, KeyError, IndexError):
            claimed = None
    try:
        result.chain_errors += verify_chain(leaf, others, anchors, at or claimed or dt.datetime.now(dt.UTC), path=result.path)
        result.chain_checked = True
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        result.chain_errors.append(f"证书链未检测 (certificate chain not checked): {exc}")


def signed_by(identity: Any, signature: bytes, content: bytes, anchors: list[x509.Certificate]) -> tuple[str, list[str]]:
    """(who signed, why this is not ``identity``'s valid detached signature over ``content``): empty when it is.

    ``identity`` is a :class:`~earchive.crypto.identity.SealIdentity` (the sender pinned, not merely
    anyone the anchors certify) or anything with its ``problems(cert)``.
    """
    try:
        check = verify_signed_data(cms.ContentInfo.load(signature), anchors, content=content)
    except ValueError as exc:
        return "", [f"not a CMS signature: {exc}"]
    who = identity.problems(check.signer_cert) if check.signer_cert is not None else []
    return check.signer_subject, check.errors + check.chain_errors + who
