"""The institution's side runs on Windows office PCs too: nothing `earchive receive` imports needs fcntl."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

from earchive import locks


def test_the_lock_excludes_another_process(tmp_path):
    path = tmp_path / "x.lock"
    with open(path, "a") as f, locks.exclusive(f):
        probe = textwrap.dedent(f"""
            import fcntl, sys
            f = open({str(path)!r}, "a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sys.exit(3)
        """)
        assert subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 3


def test_on_windows_the_receiving_side_imports_and_locks_without_fcntl(monkeypatch, tmp_path):
    """With no fcntl (as on Windows) and a stand-in msvcrt, the locks module and the receive commands import and lock."""
    calls = []

    class Msvcrt:
        LK_LOCK, LK_UNLCK = 1, 0

        @staticmethod
        def locking(fd, mode, n):
            calls.append(mode)

    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", Msvcrt)
    windows = importlib.reload(locks)
    try:
        with open(tmp_path / "y.lock", "a") as f, windows.exclusive(f):
            pass
        assert calls == [1, 0]
        for name in ("earchive.crypto.pki", "earchive.receive", "earchive.cli_receive", "earchive.domain.organise"):
            importlib.reload(importlib.import_module(name))
    finally:
        monkeypatch.undo()
        importlib.reload(locks)
        for name in ("earchive.crypto.pki", "earchive.domain.organise"):
            importlib.reload(importlib.import_module(name))
