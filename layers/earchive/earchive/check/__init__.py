"""Check (归档检测 / 接收检测): the DA/T 70 four-property tests of one package.

Every test has a stable ID in DA/T 70's style — ``GD-x-y`` at archiving, ``YJ-x-y`` at receiving,
the same numbers at both stages — its property (authenticity / integrity / usability / security),
its Chinese name, a status (pass, fail, manual, not_applicable), the time it ran and a detail that
names the object and the rule. :mod:`.catalogue` is the single source of those facts;
docs/checks.md is generated from it.

The package is untrusted: it is read through :class:`SafeZip`, every member is read once
(:mod:`.read`: digests, virus signatures, head and tail for format checks in the same pass) and
nothing is ever extracted. Whatever goes wrong becomes a failed test in the report, never an
exception.

This module only orchestrates: one function per test code lives in :mod:`.authenticity`,
:mod:`.integrity`, :mod:`.usability` and :mod:`.security`. The order below is the order results
are recorded in. The report lists them in catalogue order regardless, but the order decides which
tests have a verdict when a later step cannot run (those without one are reported as not checked),
and lets the read's scanner failure stand as GD-4-2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from ..domain.safezip import SafeZip
from ..errors import ConfigurationError, TransientError
from . import authenticity, integrity, security, usability
from .catalogue import CATALOGUE, FAIL, MANUAL, NA, PASS, PROPERTIES, STAGES, catalogue_markdown
from .model import CheckOptions, CheckReport, MemberFacts, Run, Scanner, TestResult
from .read import read_members

__all__ = [
    "CATALOGUE", "FAIL", "MANUAL", "NA", "PASS", "PROPERTIES", "STAGES",
    "CheckOptions", "CheckReport", "MemberFacts", "Scanner", "TestResult", "catalogue_markdown", "check_package",
]


def check_package(path: str | Path, options: CheckOptions | None = None, *,
                  source: Callable[[], BinaryIO] | None = None) -> CheckReport:
    """Run every test on the package at ``path``; never raises for a bad package.

    ``source``, when given, opens fresh readers of the bytes instead of the file (a package in S3
    read by ranged GETs, too large for the function's /tmp: ADR 0015); ``path`` then only names it,
    and the caller passes the package's digests in ``measured_digests``. Members are then read
    one at a time. If a reader of the source failed (S3 gave up mid-read), the report would judge
    bytes that were never read: :class:`~earchive.errors.TransientError` is raised instead, and
    the state machine retries.
    """
    options = options or CheckOptions()
    run = Run(str(path), options if source is None else replace(options, lanes=1))
    opened: list[BinaryIO] = []

    def reopen() -> BinaryIO:
        assert source is not None
        opened.append(source())
        return opened[-1]

    try:
        _check(run, Path(path), reopen if source is not None else None)
    except (TransientError, ConfigurationError):
        raise  # the source or the settings failed, not the package
    except Exception as exc:  # noqa: BLE001 - a hostile package must yield a report, not a traceback
        run.not_run(list(CATALOGUE), f"unexpected {type(exc).__name__}: {exc}")
    finally:
        for f in opened:
            f.close()
    failures = [f.failure for f in opened if getattr(f, "failure", None)]  # type: ignore[attr-defined]
    if failures:
        raise TransientError(f"reading {path} failed, so it was not checked: {failures[0]}")
    return run.report()


def _check(run: Run, path: Path, reopen: Callable[[], BinaryIO] | None) -> None:
    opt = run.opt
    if opt.expected_digest is None:  # nothing to compare: said before the package can fail to open
        authenticity.t_1_14_package_digest(run, path)
    security.t_4_4_carrier(run)
    if reopen is None and not path.is_file():
        run.not_run(list(CATALOGUE), f"{path} is not a readable file")
        return
    try:
        z = SafeZip(str(path) if reopen is None else reopen(), opt.limits, rule_prefix="PACKAGE", reopen=reopen)
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - EarchiveError or anything zipfile raises
        run.add("1-13", FAIL, f"not a readable zip package: {exc}", [path.name])
        run.not_run(list(CATALOGUE), "the package is not a readable zip")
        return
    with z:
        facts = read_members(run, z, path)
        authenticity.t_1_13_package_structure(run, z)
        integrity.t_2_10_package_metadata(run, z)
        meta = usability.t_3_1_metadata_readable(run, z, facts)
        authenticity.t_1_12_description_files(run, z, facts, meta)
        missing = authenticity.missing_seal_files(facts)
        if missing:
            authenticity.seal_unverifiable(run, missing)
        else:
            authenticity.t_1_1_1_manifest_digests(run, facts)
            seal = authenticity.verify_seal(run, facts)
            authenticity.t_1_1_2_signature(run, seal)
            authenticity.t_1_1_3_timestamp(run, seal)
            authenticity.t_1_1_4_certificate_chain(run, seal)
        if opt.expected_digest is not None:
            authenticity.t_1_14_package_digest(run, path)
        if meta is None:
            run.not_run(list(CATALOGUE), "the metadata XML is missing or unreadable")
            return
        # the metadata values
        authenticity.t_1_2_value_length(run, meta)
        authenticity.t_1_3_value_format(run, meta)
        authenticity.t_1_4_value_domain(run, meta)
        authenticity.t_1_6_special_characters(run, meta)
        authenticity.t_1_5_value_reasonable(run, meta)
        authenticity.t_1_7_record_code(run, meta, path)
        authenticity.t_1_8_duplicates(run, meta)
        integrity.t_2_3_profile_elements(run, meta)
        integrity.t_2_4_mandatory_filled(run, meta)
        integrity.t_2_5_process_complete(run, meta)
        integrity.t_2_6_continuity(run, meta)
        integrity.t_2_9_archiving_scope(run, meta)
        # the content against the metadata
        integrity.t_2_1_file_count(run, z, meta)
        integrity.t_2_2_byte_count(run, z, meta, facts)
        integrity.t_2_7_content_complete(run, meta, facts)
        integrity.t_2_11_declared_present(run, meta, facts)
        authenticity.t_1_9_electronic_attributes(run, meta, facts)
        authenticity.t_1_10_content_digests(run, meta, facts)
        authenticity.t_1_11_metadata_content_link(run, z, meta, facts)
        usability.t_3_3_content_format(run, meta, facts)
        readability = usability.t_3_4_content_readable(run, z, meta, facts)
        usability.t_3_8_format_compliance(run, z, readability)
        # security, and the catalogue
        security.t_4_1_scanner_present(run)
        security.t_4_2_virus_free(run, facts)
        security.t_4_3_extra_files(run, z, meta)
        usability.t_3_2_catalogue_access(run, meta)
