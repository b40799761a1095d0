"""Seal (固化): manifests, a detached CMS signature and an RFC 3161 timestamp.

The package's ``manifest-sha256.txt`` lists every file (including the SM3
manifest) in the format ``sha256sum -c`` reads, so one signature over that
one file covers the whole package. The signature is a detached CMS
SignedData (``openssl cms -verify``), and the timestamp token is over the
signature (``openssl ts -verify``), proving the seal existed at that time.
Which key signs and which TSA stamps is chosen in :mod:`earchive.crypto.signers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..crypto.cms import signed_data
from ..crypto.timestamp import TimestampAuthority, timestamp
from .layout import MANIFEST_SHA256, MANIFEST_SM3, SEAL_FILES, SIGNATURE, TIMESTAMP

__all__ = ["MANIFEST_SHA256", "MANIFEST_SM3", "SEAL_FILES", "SIGNATURE", "TIMESTAMP", "Seal", "manifest_text", "parse_manifest", "seal"]


def manifest_text(entries: list[tuple[str, str]]) -> bytes:
    """``<hex>  <path>`` lines, the format of ``sha256sum``/``sm3sum``."""
    lines = []
    for digest_hex, path in entries:
        if "\n" in path or "\\" in path:
            raise ValueError(f"path cannot appear in a manifest: {path!r}")
        lines.append(f"{digest_hex}  {path}\n")
    return "".join(lines).encode("utf-8")


def parse_manifest(data: bytes) -> list[tuple[str, str]]:
    """Inverse of :func:`manifest_text`; raises ValueError on a malformed line."""
    out = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        digest_hex, sep, path = line.partition("  ")
        if not sep or len(digest_hex) != 64 or not all(c in "0123456789abcdef" for c in digest_hex) or not path:
            raise ValueError(f"line {n} is not '<64 hex digits>  <path>'")
        out.append((digest_hex, path))
    return out


@dataclass
class Seal:
    """The sealed bytes to write into the package."""

    manifest_sm3: bytes
    manifest_sha256: bytes
    signature: bytes
    timestamp: bytes
    signer: str
    tsa: str


def seal(manifest_sm3: bytes, manifest_sha256: bytes, signer, tsa: TimestampAuthority) -> Seal:
    """Sign the SHA-256 manifest and timestamp the signature."""
    signature = signed_data(signer, content=manifest_sha256).dump()
    token = timestamp(signature, tsa)
    return Seal(manifest_sm3, manifest_sha256, signature, token, signer.description, tsa.description)
