"""Who may seal: the archive's seal identity, apart from the CAs and TSAs a verifier trusts.

A certificate that chains to a trusted CA is not enough to seal a package: the same CA may
certify a TSA, an institution or any other unit. A package (and a transfer list) is authentic
only when its signer is the deployment's seal identity:

- its certificate is **pinned** (by the SHA-256 of the certificate, e.g. the leaf of the
  deployment's ``SignerCertificateParameter``), or it carries a **seal certificate policy** that
  its CA issues to seal keys only (the development CA's is :data:`DEV_SEAL_POLICY`);
- and, in every case, its key usage allows digitalSignature or nonRepudiation, and it is not a
  timestamping (or OCSP) certificate.

The timestamp's signer is checked elsewhere, against its own anchors and the timeStamping purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

# The development CA's seal policy (an OID under 2.25, made from a UUID: unique without registration).
DEV_SEAL_POLICY = "2.25.101471566651411908864025593856675081773"
TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, as lowercase hex (what a pin is)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def policies_of(cert: x509.Certificate) -> set[str]:
    try:
        return {p.policy_identifier.dotted_string for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value}
    except x509.ExtensionNotFound:
        return set()


def signing_use_problems(cert: x509.Certificate) -> list[str]:
    """Why ``cert`` may not sign a document at all (key usage, extended key usage); empty when it may."""
    problems = []
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (ku.digital_signature or ku.content_commitment):
            problems.append("its key usage allows neither digitalSignature nor nonRepudiation")
    except x509.ExtensionNotFound:
        problems.append("it has no key usage (digitalSignature or nonRepudiation is required)")
    try:
        purposes = {o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
        if purposes and purposes <= {TIME_STAMPING, OCSP_SIGNING}:
            problems.append("it is a timestamping/OCSP certificate, not a signing certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            problems.append("it is a CA certificate")
    except x509.ExtensionNotFound:
        pass
    return problems


@dataclass(frozen=True)
class SealIdentity:
    """The certificates (pins) and certificate policies that make a signer the archive's seal."""

    pins: frozenset[str] = frozenset()
    policies: frozenset[str] = frozenset()
    label: str = ""

    @classmethod
    def development(cls) -> SealIdentity:
        """The development CA's seal keys (local-ec, local-rsa, local-sm2, development KMS certificates)."""
        return cls(policies=frozenset({DEV_SEAL_POLICY}), label=f"development seal policy {DEV_SEAL_POLICY}")

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate] = (), policies: Iterable[str] = (), label: str = "") -> SealIdentity:
        """Pin the non-CA certificates given (a chain file's CAs are never pinned) and require any of ``policies``."""
        pins = frozenset(fingerprint(c) for c in certificates if not _is_ca(c))
        return cls(pins, frozenset(p for p in policies if p), label)

    @classmethod
    def from_files(cls, cert_files: Iterable[str | Path] = (), policies: Iterable[str] = ()) -> SealIdentity:
        from .pki import load_trust_anchors

        files = [str(f) for f in cert_files if f]
        certs = [c for f in files for c in load_trust_anchors(f)]
        parts = [f"pinned {', '.join(files)}"] if files else []
        parts += [f"policy {p}" for p in policies if p]
        return cls.of(certs, policies, "; ".join(parts))

    def describe(self) -> str:
        return self.label or (f"{len(self.pins)} pinned certificate(s)" if self.pins else ", ".join(sorted(self.policies)) or "nobody")

    def problems(self, cert: x509.Certificate) -> list[str]:
        """Why ``cert`` is not the seal identity; empty when it is. Each reason names who signed."""
        who = cert.subject.rfc4514_string()
        problems = [f"signed by {who}: {p}" for p in signing_use_problems(cert)]
        if fingerprint(cert) in self.pins or policies_of(cert) & self.policies:
            return problems
        return [*problems, f"signed by {who}, which is not this archive's seal identity ({self.describe()})"]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
