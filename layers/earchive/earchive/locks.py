"""An exclusive lock on an open file, across processes: ``fcntl`` on Linux and macOS, ``msvcrt`` on Windows.

The institution's side (`earchive receive …`) runs on an office PC, often Windows: nothing it imports
may need ``fcntl``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: exercised with a stand-in msvcrt in tests/unit/test_locks.py
    fcntl = None  # type: ignore[assignment]

if fcntl is None:
    import msvcrt

    @contextlib.contextmanager
    def exclusive(f: IO[Any]) -> Iterator[None]:
        """Hold the first byte of ``f`` locked (msvcrt.locking retries for 10 s, then raises: keep trying)."""
        f.seek(0)
        while True:
            try:
                msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                break
            except OSError:
                time.sleep(0.1)
        try:
            yield
        finally:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:

    @contextlib.contextmanager
    def exclusive(f: IO[Any]) -> Iterator[None]:
        """Hold ``f`` locked (flock) for the block."""
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
