"""Seal (固化): manifests, a detached CMS signature and an RFC 3161 timestamp.

The signed manifest lists every file (including the other manifest) in the
format ``sha256sum -c`` / ``sm3sum`` reads, so one signature over that one file
covers the whole package. Which manifest is signed depends on the key: an SM2
key (国密) signs ``manifest-sm3.txt`` (so no SHA-256 lies between a file and
the signature), any other key signs ``manifest-sha256.txt``; the signature's
file name says which (:data:`~.layout.GUOMI_SEAL`, ADR 0020). The signature
is a detached CMS SignedData, and the timestamp token is over the signature
(``openssl ts -verify``), proving the seal existed at that time.
Which key signs and which TSA stamps is chosen in :mod:`earchive.crypto.signers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..crypto.cms import signed_data
from ..crypto.timestamp import TimestampAuthority, timestamp
from .layout import GUOMI_SEAL, MANIFEST_SHA256, MANIFEST_SM3, SEAL_FILES, SIGNATURE, STANDARD_SEAL, TIMESTAMP, SealLayout

__all__ = ["MANIFEST_SHA256", "MANIFEST_SM3", "SEAL_FILES", "SIGNATURE", "TIMESTAMP", "Seal", "layout_for", "manifest_text", "manifests",
           "parse_manifest", "seal"]


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
    layout: SealLayout = STANDARD_SEAL


def layout_for(signer) -> SealLayout:
    """An SM2 key (digest SM3) seals the 国密 way; every other key the standard way."""
    return GUOMI_SEAL if signer.digest_algorithm == "sm3" else STANDARD_SEAL


def manifests(entries: list[tuple[str, str, str]], layout: SealLayout) -> tuple[bytes, bytes]:
    """(SM3 manifest, SHA-256 manifest) of ``(name, sm3, sha256)`` entries; the signed one also lists the other's digest."""
    from ..crypto.digests import hexdigest

    sm3 = [(d, name) for name, d, _ in entries]
    sha = [(d, name) for name, _, d in entries]
    if layout.signed_manifest == MANIFEST_SM3:
        sha_text = manifest_text(sha)
        return manifest_text(sm3 + [(hexdigest("SM3", sha_text), MANIFEST_SHA256)]), sha_text
    sm3_text = manifest_text(sm3)
    return sm3_text, manifest_text(sha + [(hexdigest("SHA-256", sm3_text), MANIFEST_SM3)])


def seal(manifest_sm3: bytes, manifest_sha256: bytes, signer, tsa: TimestampAuthority) -> Seal:
    """Sign the manifest the signer's layout names and timestamp the signature."""
    layout = layout_for(signer)
    signed = manifest_sm3 if layout.signed_manifest == MANIFEST_SM3 else manifest_sha256
    signature = signed_data(signer, content=signed).dump()
    token = timestamp(signature, tsa)
    return Seal(manifest_sm3, manifest_sha256, signature, token, signer.description, tsa.description, layout)
