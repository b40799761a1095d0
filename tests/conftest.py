"""Shared fixtures: an isolated EARCHIVE_HOME (dev PKI made once per session) and sample cases."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

# Powertools' Logger (service "earchive") is process-wide and reads its level when the handler module
# is first imported: keep it at WARNING in tests, as the local cloud does, so that library INFO lines
# never reach the stdout of a CLI command under test.
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session", autouse=True)
def earchive_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("earchive-home")
    old = os.environ.get("EARCHIVE_HOME")
    os.environ["EARCHIVE_HOME"] = str(home)
    for var in ("EARCHIVE_SIGNER", "EARCHIVE_TSA", "EARCHIVE_SCANNER", "EARCHIVE_SIGNER_CERT"):
        os.environ.pop(var, None)
    from earchive.crypto.pki import DevPKI

    DevPKI()
    yield home
    if old is None:
        os.environ.pop("EARCHIVE_HOME", None)
    else:
        os.environ["EARCHIVE_HOME"] = old


@pytest.fixture(scope="session")
def signer():
    from earchive.crypto.signers import make_signer

    return make_signer("local-ec")


@pytest.fixture(scope="session")
def tsa():
    from earchive.crypto.signers import make_tsa

    return make_tsa("local")


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory, signer, tsa):
    """One good case, packed once per session: (case folder, package path)."""
    from earchive.domain.pack import pack
    from earchive_devtools.sample import sample_case

    root = tmp_path_factory.mktemp("packed")
    case = sample_case(root / "cases", seed=7, files=8)
    result = pack(case.folder, root / "out", signer=signer, tsa=tsa)
    return case, result


@pytest.fixture
def package_copy(packed, tmp_path: Path) -> Path:
    """A private copy of the good package, named as the original, to tamper with."""
    _, result = packed
    target = tmp_path / result.path.name
    shutil.copy(result.path, target)
    return target


def tree_digest(path: Path) -> str:
    """Digest of every file name and content under ``path`` (or of one file)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
