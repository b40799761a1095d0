"""Virus scanning (GD-4-2 / YJ-4-2): pluggable, honest about what it can catch.

The built-in scanner matches ClamAV-style ``.ndb`` body signatures while the
bytes stream past in the check's single read, so scanning costs no extra I/O.
Its bundled database only knows the EICAR test file: it proves the plumbing,
not protection. ``EARCHIVE_SCANNER=clamav`` runs ``clamscan`` (with a real,
freshclam-maintained database) over the package, which also looks inside
nested containers such as OFD. ``GD-4-1`` reports which one ran.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import current

if TYPE_CHECKING:
    from .model import Scanner


@dataclass
class Signature:
    name: str
    pattern: bytes


def load_ndb(text: str) -> list[Signature]:
    """Parse ``Name:TargetType:Offset:Hex`` lines (offset ``*``, plain hex only)."""
    sigs = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 4 or parts[2] != "*":
            raise ValueError(f"signature line {n}: only 'Name:Target:*:hex' is supported")
        sigs.append(Signature(parts[0], bytes.fromhex(parts[3])))
    return sigs


class ScanSession:
    """Incremental matching over a stream; keeps just enough tail to span chunk edges."""

    def __init__(self, signatures: list[Signature]):
        self._sigs = signatures
        self._keep = max((len(s.pattern) for s in signatures), default=1) - 1
        self._tail = b""
        self.hits: list[str] = []

    def update(self, chunk: bytes) -> None:
        if not self._sigs:
            return
        window = self._tail + chunk[: self._keep] if self._tail else b""
        for sig in self._sigs:
            if sig.name not in self.hits and (sig.pattern in chunk or (window and sig.pattern in window)):
                self.hits.append(sig.name)
        if self._keep:
            self._tail = chunk[-self._keep:] if len(chunk) >= self._keep else (self._tail + chunk)[-self._keep:]


@dataclass
class BuiltinScanner:
    """Streaming signature scanner over ``.ndb`` databases."""

    databases: list[str] = field(default_factory=list)
    name: str = "earchive built-in signature scanner"
    streaming: bool = True
    # Set from the databases in __post_init__; declared so the class visibly satisfies check.model.Scanner.
    production_grade: bool = field(init=False, default=False)
    database_info: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.signatures: list[Signature] = []
        if not self.databases:
            self.signatures = load_ndb(resources.files("earchive").joinpath("data/signatures.ndb").read_text("utf-8"))
            self.production_grade = False
            self.database_info = f"bundled development database ({len(self.signatures)} test signature: EICAR only)"
        else:
            for db in self.databases:
                self.signatures += load_ndb(Path(db).read_text("utf-8"))
            self.production_grade = True
            self.database_info = f"{len(self.signatures)} signatures from {', '.join(self.databases)}"

    def session(self) -> ScanSession:
        return ScanSession(self.signatures)

    def scan_file(self, path: str) -> tuple[list[tuple[str, str]], str | None]:
        """Not used: a streaming scanner sees every member during the check's single read (see session())."""
        raise NotImplementedError("the built-in scanner streams: use session()")


@dataclass
class ClamAVScanner:
    """``clamscan`` over the whole package (it unpacks zips and OFDs itself)."""

    database: str | None = None
    name: str = "ClamAV clamscan"
    streaming: bool = False
    production_grade: bool = True
    database_info: str = field(init=False, default="")  # set in __post_init__

    def __post_init__(self) -> None:
        self.binary = shutil.which("clamscan")
        self.database_info = f"database {self.database or 'default (/var/lib/clamav)'}"

    def session(self) -> ScanSession:
        """Not used: clamscan reads the package file itself (see scan_file())."""
        raise NotImplementedError("clamscan does not stream: use scan_file()")

    def scan_file(self, path: str) -> tuple[list[tuple[str, str]], str | None]:
        """[(object, signature)] found, and an error text if the scan itself failed."""
        if not self.binary:
            return [], "clamscan is not installed"
        cmd = [self.binary, "--no-summary", "--infected", "--max-filesize=4000M", "--max-scansize=4000M",
               "--alert-exceeds-max=yes"]
        if self.database:
            cmd.append(f"--database={self.database}")
        proc = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=3600)
        if proc.returncode not in (0, 1):
            return [], (proc.stderr or proc.stdout).strip()[:300] or f"clamscan exited {proc.returncode}"
        hits = []
        for line in proc.stdout.splitlines():
            if line.endswith(" FOUND"):
                obj, _, sig = line[: -len(" FOUND")].rpartition(": ")
                hits.append((obj, sig))
        return hits, None


def make_scanner(spec: str | None = None) -> Scanner | None:
    """``builtin`` (default), ``builtin:DB.ndb[,DB2.ndb]``, ``clamav`` or ``clamav:DB``, or ``none``."""
    spec = spec or current().scanner or "builtin"
    if spec == "none":
        return None
    kind, _, arg = spec.partition(":")
    if kind == "builtin":
        return BuiltinScanner([p for p in arg.split(",") if p])
    if kind == "clamav":
        return ClamAVScanner(arg or None)
    raise ValueError(f"unknown scanner {spec!r} (builtin, builtin:DB.ndb, clamav, clamav:DB, none)")
