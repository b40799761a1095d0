"""SM3 and SHA-256 over one read of the bytes, overlapped across cores.

SM3 (GB/T 32905) is the primary digest of Chinese e-archives; SHA-256 is what
stock tools (``sha256sum -c``, S3 checksums) check. Both are computed from the
same chunk as it streams past. SM3 runs in a worker thread while the caller's
thread does SHA-256 and writes the chunk: OpenSSL-backed hashes release the
GIL on large buffers, so on two cores one large file costs about one SM3
pass. A case of many files is hashed a file per core (:func:`available_cores`
threads, see pack and check), since one SM3 cannot be split.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

CHUNK = 1 << 20


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


def available_cores() -> int:
    """Cores this process may run on (a container's or Lambda's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


class StreamDigest:
    """SM3 and SHA-256 of one stream, SM3 on its own thread once the stream is longer than a chunk.

    A bounded queue (8 chunks) lets the SM3 thread and the caller (SHA-256, CRC,
    write) each run at their own pace instead of in lock-step; single-chunk
    streams never start a thread.
    """

    QUEUE_CHUNKS = 8

    def __init__(self) -> None:
        self._sm3 = new_hash("SM3")
        self._sha256 = new_hash("SHA-256")
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._first: bytes | None = None
        self.size = 0

    def _worker(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._sm3.update(chunk)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                    self._error = exc

    def update(self, chunk: bytes) -> None:
        self._sha256.update(chunk)
        self.size += len(chunk)
        if self._queue is not None:
            self._queue.put(chunk)
        elif self._first is None:
            self._first = chunk  # maybe the only chunk: hash it without a thread
        else:
            self._queue = queue.Queue(self.QUEUE_CHUNKS)
            self._thread = threading.Thread(target=self._worker, name="sm3", daemon=True)
            self._thread.start()
            self._queue.put(self._first)
            self._queue.put(chunk)
            self._first = None

    def abandon(self) -> None:
        """Stop the SM3 thread of a stream whose reader failed (it would wait for chunks for ever)."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = self._thread = None
        self._first = None

    def __enter__(self) -> StreamDigest:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.abandon()

    def hexdigests(self) -> dict[str, str]:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = self._thread = None
        elif self._first is not None:
            self._sm3.update(self._first)
            self._first = None
        if self._error is not None:
            raise self._error
        return {"SM3": self._sm3.hexdigest(), "SHA-256": self._sha256.hexdigest()}


def digest_stream(
    stream: BinaryIO,
    sinks: tuple[Callable[[bytes], object], ...] = (),
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK,
) -> tuple[dict[str, str], int]:
    """Read ``stream`` once: digest it and hand every chunk to each sink in order."""
    with StreamDigest() as md:
        while chunk := stream.read(chunk_size):
            md.update(chunk)
            for sink in sinks:
                sink(chunk)
            if progress:
                progress(len(chunk))
    return md.hexdigests(), md.size


def digest_source(open_source: Callable[[], BinaryIO], chunk_size: int = CHUNK) -> tuple[dict[str, str], int, int]:
    """SM3, SHA-256, size and CRC-32 of a source read on its own (pack's look-ahead read)."""
    crc = 0
    with StreamDigest() as md, open_source() as stream:
        while chunk := stream.read(chunk_size):
            md.update(chunk)
            crc = zlib.crc32(chunk, crc)
    return md.hexdigests(), md.size, crc
