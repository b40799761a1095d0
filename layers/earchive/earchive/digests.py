"""SM3 and SHA-256 over one read of the bytes, overlapped across cores.

SM3 (GB/T 32905) is the primary digest of Chinese e-archives; SHA-256 is what
stock tools (``sha256sum -c``, S3 checksums) check. Both are computed from the
same chunk as it streams past, so each byte is read once per step. SM3 runs
in a worker thread while the caller's thread does SHA-256 and writes the
chunk: OpenSSL-backed hashes release the GIL on large buffers, so on two
cores the whole step costs about one SM3 pass.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Protocol

CHUNK = 1 << 20
ALGORITHMS = ("SM3", "SHA-256")
_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="digest")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _CryptographySM3:
    """SM3 from ``cryptography`` for Pythons whose OpenSSL hides SM3 from hashlib."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import hashes

        self._h = hashes.Hash(hashes.SM3())

    def update(self, data: bytes, /) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.finalize().hex()


def new_hash(algorithm: str) -> _Hasher:
    """A fresh hash object for 'SM3' or 'SHA-256'."""
    if algorithm == "SHA-256":
        return hashlib.sha256()
    if algorithm == "SM3":
        try:
            return hashlib.new("sm3")
        except ValueError:
            return _CryptographySM3()
    raise ValueError(f"unsupported digest algorithm {algorithm!r}")


def hexdigest(algorithm: str, data: bytes) -> str:
    h = new_hash(algorithm)
    h.update(data)
    return h.hexdigest()


class MultiDigest:
    """SM3 and SHA-256 of one stream; SM3 of chunk n overlaps the rest of chunk n."""

    def __init__(self) -> None:
        self._sm3 = new_hash("SM3")
        self._sha256 = new_hash("SHA-256")
        self._pending: Future[None] | None = None
        self.size = 0

    def update(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = _POOL.submit(self._sm3.update, chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return {"SM3": self._sm3.hexdigest(), "SHA-256": self._sha256.hexdigest()}


def digest_stream(
    stream: BinaryIO,
    sinks: tuple[Callable[[bytes], object], ...] = (),
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK,
) -> tuple[dict[str, str], int]:
    """Read ``stream`` once: digest it and hand every chunk to each sink in order."""
    md = MultiDigest()
    while chunk := stream.read(chunk_size):
        md.update(chunk)
        for sink in sinks:
            sink(chunk)
        if progress:
            progress(len(chunk))
    return md.hexdigests(), md.size


