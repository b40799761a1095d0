"""Bouncy Castle as the outside judge: tests/java/*.java compiled once per test session, run as a command.

`make system-deps` installs a JDK and Debian's libbcpkix-java (Bouncy Castle 1.72); nothing is downloaded by hand. The classes
are compiled on the first call into the session's temporary directory and reused by every test module that asks.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BC_JARS = ("/usr/share/java/bcprov.jar", "/usr/share/java/bcpkix.jar", "/usr/share/java/bcutil.jar")  # Debian's libbcpkix-java
SOURCES = Path(__file__).parent / "java"
_compiled: Path | None = None


def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of every tests/java class, compiled once (javac takes seconds; each test module would pay it again)."""
    global _compiled
    if _compiled is None:
        assert shutil.which("javac") and all(Path(j).is_file() for j in BC_JARS), "make system-deps installs a JDK and libbcpkix-java"
        out = tmp_path_factory.mktemp("bc")
        sources = sorted(str(p) for p in SOURCES.glob("*.java"))
        done = subprocess.run(["javac", "-d", str(out), "-cp", ":".join(BC_JARS), *sources], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        _compiled = out
    return _compiled


def java_command(tmp_path_factory: pytest.TempPathFactory, main_class: str) -> list[str]:
    """The command line that runs ``main_class`` (BcVerify, Sm2Sign) on Bouncy Castle."""
    return ["java", "-cp", ":".join((*BC_JARS, str(java_classes(tmp_path_factory)))), main_class]
