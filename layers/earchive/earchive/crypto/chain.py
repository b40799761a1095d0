"""Certificate paths: from a signer's certificate to a trust anchor, for ECDSA/RSA and SM2 (国密) CAs alike.

Kept apart from :mod:`.cms` (which verifies one SignedData) because every signature the archive checks —
seal, timestamp, list, reply — ends here, and because an SM2 CA (every Chinese CA signs SM3withSM2) needs
:mod:`.sm2`, which cryptography cannot stand in for (ADR 0020).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

SM2_SIGN_OID = "1.2.156.10197.1.501"  # SM2 signature with SM3


UNSUPPORTED = "证书链使用不支持的算法 (unsupported algorithm in the certificate chain)"


def issued_by_problem(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why ``issuer``'s key did not sign ``cert``; None when it did.

    SM3withSM2 certificates (every 国密 CA's) are checked with :mod:`.sm2`, the rest with cryptography;
    an algorithm neither knows is named (:data:`UNSUPPORTED`), never raised, so one odd certificate
    fails the chain test and nothing else.
    """
    from . import sm2

    if cert.signature_algorithm_oid.dotted_string == SM2_SIGN_OID:
        return sm2.certificate_signature_problem(cert, issuer)
    if sm2.is_sm2_certificate(issuer):
        return f"the issuer's key is SM2 but the certificate is signed with {cert.signature_algorithm_oid.dotted_string}"
    try:
        cert.verify_directly_issued_by(issuer)
    except UnsupportedAlgorithm as exc:
        return f"{UNSUPPORTED}: {exc}"
    except ValueError as exc:
        if str(exc).startswith("Unsupported"):  # cryptography's word for a signature OID it does not know
            return f"{UNSUPPORTED}: {cert.signature_algorithm_oid.dotted_string}"
        return f"the issuer's signature does not verify ({exc})"
    except (InvalidSignature, TypeError) as exc:
        return f"the issuer's signature does not verify ({exc or type(exc).__name__})"
    return None


def verify_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    at: dt.datetime,
    path: list[x509.Certificate] | None = None,
) -> list[str]:
    """Errors building a path from ``leaf`` to one of ``anchors``, valid at ``at``; the certificates walked go to ``path``."""
    errors: list[str] = []
    anchor_fps = {a.fingerprint(hashes.SHA256()) for a in anchors}
    pool = intermediates + anchors
    cert = leaf
    cas_below = 0  # CA certificates between the leaf and the issuer being checked (for pathLenConstraint)
    for _ in range(8):
        if path is not None:
            path.append(cert)
        if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
            errors.append(f"certificate {cert.subject.rfc4514_string()} is not valid at {at.isoformat()}")
        if cert.fingerprint(hashes.SHA256()) in anchor_fps:
            return errors
        issuers = [c for c in pool if c.subject == cert.issuer and c is not cert]
        issuer, unsupported = None, []
        for candidate in issuers:
            why = issued_by_problem(cert, candidate)
            if why is None:
                issuer = candidate
                break
            if why.startswith(UNSUPPORTED):
                unsupported.append(why)
        if issuer is None:
            errors.append(unsupported[0] + f" ({cert.subject.rfc4514_string()})" if unsupported else
                          f"no trusted issuer for {cert.subject.rfc4514_string()} (untrusted certificate chain)")
            return errors
        if cert is not leaf:  # ``cert`` is a CA between the leaf and ``issuer``
            cas_below += 1
        name = issuer.subject.rfc4514_string()
        try:
            bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
            if not bc.ca:
                errors.append(f"issuer {name} is not a CA")
            elif bc.path_length is not None and cas_below > bc.path_length:
                errors.append(f"issuer {name} allows {bc.path_length} CA(s) below it, the path has {cas_below}")
        except x509.ExtensionNotFound:
            errors.append(f"issuer {name} has no basic constraints")
        try:
            if not issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
                errors.append(f"issuer {name} may not sign certificates (no keyCertSign)")
        except x509.ExtensionNotFound:
            errors.append(f"issuer {name} has no key usage (keyCertSign is required of a CA)")
        cert = issuer
    errors.append("certificate chain too long")
    return errors
