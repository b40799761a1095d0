"""What a check run works with: its options, the facts of the single read, and the results it collects.

Kept apart from the tests themselves so that every property module (authenticity, integrity,
usability, security) shares one way of recording a verdict — :class:`Run` — and the report always
comes out in catalogue order whatever order the tests ran in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

from ..crypto.identity import SealIdentity
from ..domain import metadata as md
from ..domain.formats import DEFAULT_ALLOWED
from ..domain.safezip import SafeZip, ZipLimits
from .catalogue import CATALOGUE, FAIL, PASS, PROPERTIES, STAGES

# (object, reason) pairs a test found; an empty list means the test passes.
Problems = list[tuple[str, str]]


class StreamScan(Protocol):
    """A scan over one member's bytes as they stream past in the single read."""

    hits: list[str]

    def update(self, chunk: bytes) -> None: ...


class Scanner(Protocol):
    """A virus scanner (see check/virus.py), as GD-4-1 and GD-4-2 use it.

    A ``streaming`` scanner is fed every member during the single read through :meth:`session`;
    any other scanner is handed the package file once through :meth:`scan_file`. The check calls
    only the method that matches ``streaming``. ``production_grade`` says whether its database is
    a real one (GD-4-1 passes) or development signatures only (GD-4-1 asks for a manual check).
    """

    name: str
    database_info: str
    streaming: bool
    production_grade: bool

    def session(self) -> StreamScan: ...

    def scan_file(self, path: str) -> tuple[list[tuple[str, str]], str | None]: ...


@dataclass
class TestResult:
    """One line of the report: a test, its verdict, and the objects that made it fail."""

    id: str
    property: str
    name: str
    status: str
    detail: str
    checked_at: str
    objects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.id, "property": self.property, "name": self.name, "status": self.status,
                "detail": self.detail, "checked_at": self.checked_at, "objects": self.objects}


@dataclass
class CheckReport:
    """Every test of one package at one stage; failed as soon as one test failed."""

    package: str
    stage: str
    checked_at: str
    results: list[TestResult]
    scanner: str = ""
    trust: list[str] = field(default_factory=list)
    crypto_profile: str = ""  # what the verified seal is: guomi, guomi-seal, standard (authenticity.SealEvidence.profile); "" unconfirmed

    @property
    def passed(self) -> bool:
        return not any(r.status == FAIL for r in self.results)

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if r.status == FAIL]

    def as_dict(self) -> dict:
        return {"package": self.package, "stage": self.stage, "passed": self.passed, "checked_at": self.checked_at,
                "scanner": self.scanner, "trust_anchors": self.trust, "crypto_profile": self.crypto_profile,
                "results": [r.as_dict() for r in self.results]}


@dataclass
class MemberFacts:
    """What the single read of one member found."""

    path: str
    size: int = 0
    sm3: str = ""
    sha256: str = ""
    head: bytes = b""
    tail: bytes = b""
    data: bytes | None = None  # kept when small, for the format checks
    read_error: str | None = None
    virus: list[str] = field(default_factory=list)


@dataclass
class CheckOptions:
    """How to check: the stage, whom to trust, which scanner, and what the caller already knows."""

    stage: str = "archiving"
    trust: list[x509.Certificate] | None = None  # anchors of the seal signer's chain (default: the development CA)
    trust_label: list[str] = field(default_factory=list)
    tsa_trust: list[x509.Certificate] | None = None  # anchors of the TSA's chain (default: ``trust``)
    tsa_trust_label: list[str] = field(default_factory=list)
    seal_identity: SealIdentity | None = None  # who may seal (default: the development seal policy)
    scanner: Scanner | None = None
    allowed_formats: tuple[str, ...] = DEFAULT_ALLOWED
    expected_digest: tuple[str, str] | None = None  # (algorithm, hex) of the whole package
    # Digests of the package file measured by the caller while it wrote the file (e.g. while
    # downloading it), so YJ-1-14 need not read a multi-GB package a second time.
    measured_digests: dict[str, str] | None = None
    catalogue_reader: Callable[[str], bool] | None = None  # for 3-2 in the pipeline
    limits: ZipLimits = field(default_factory=ZipLimits)
    lanes: int | None = None  # members read at once (default: the cores this process has)


def now() -> str:
    """The time a result was recorded, as the reports show it."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Run:
    """One check run: collects results in catalogue order.

    A later :meth:`add` for the same code replaces the earlier one, and a test may look at
    :attr:`results` to leave alone a verdict already reached (the read records a scanner failure
    as GD-4-2 before the security tests run).
    """

    def __init__(self, package: str, options: CheckOptions):
        self.package, self.opt = package, options
        self.prefix = STAGES[options.stage]
        self.results: dict[str, TestResult] = {}
        self.package_findings: list[str] = []  # scanner findings not tied to one member
        self.crypto_profile = ""  # set when the seal is examined (authenticity.verify_seal)

    def add(self, code: str, status: str, detail: str, objects: list[str] | None = None) -> None:
        name, _ = CATALOGUE[code]
        self.results[code] = TestResult(f"{self.prefix}-{code}", PROPERTIES[code[0]], name, status, detail, now(), objects or [])

    def verdict(self, code: str, problems: Problems, ok_detail: str) -> None:
        """Fail with every (object, reason) found, or pass with ``ok_detail``."""
        if problems:
            shown = "; ".join(f"{obj}: {why}" if obj else why for obj, why in problems[:20])
            more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
            self.add(code, FAIL, shown + more, sorted({o for o, _ in problems if o}))
        else:
            self.add(code, PASS, ok_detail)

    def not_run(self, codes: list[str], why: str) -> None:
        """Fail every test of ``codes`` that has no result yet: a test that could not run did not pass."""
        for code in codes:
            if code not in self.results:
                self.add(code, FAIL, f"无法检测 / not checked: {why}")

    def report(self) -> CheckReport:
        ordered = [self.results[c] for c in CATALOGUE if c in self.results]
        scanner = self.opt.scanner
        return CheckReport(self.package, self.opt.stage, now(), ordered,
                           f"{scanner.name}: {scanner.database_info}" if scanner else "none", self._trust_named(), self.crypto_profile)

    def _trust_named(self) -> list[str]:
        """The trust anchors this check used, by file and by certificate (subject and SHA-256), so a report says what it trusted."""
        from ..crypto.identity import fingerprint

        def named(cert: x509.Certificate) -> str:
            return f"{cert.subject.rfc4514_string()} (SHA-256 {fingerprint(cert)[:16]}…)"

        out = list(self.opt.trust_label) + [named(c) for c in self.opt.trust or []]
        if self.opt.tsa_trust is not None:
            out += [f"TSA: {label}" for label in self.opt.tsa_trust_label] + [f"TSA: {named(c)}" for c in self.opt.tsa_trust]
        return list(dict.fromkeys(out))


def declared_files(meta: md.ParsedMetadata) -> dict[str, md.FileEntry]:
    """The files the metadata declares, by their path in the package (computer_file_name)."""
    return {e.fields.get("computer_file_name", ""): e for e in meta.files}


def content_members(z: SafeZip) -> set[str]:
    """The members in a folder, i.e. the content (the metadata and the seal sit at the root)."""
    return {p for p in z.members if "/" in p}
