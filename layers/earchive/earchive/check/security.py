"""Security (安全性, DA/T 70 GD-4-x / YJ-4-x): was the package scanned, is it clean, does it carry extras?

One function per test code, each recording its verdict on the :class:`Run`; the orchestrator in
``check/__init__.py`` decides the order. Virus findings come from the single read (:mod:`.read`),
which fed a streaming scanner every member or ran a file scanner over the package once.
"""

from __future__ import annotations

from ..domain import metadata as md
from ..domain.layout import METADATA_NAME, seal_layout_of
from ..domain.safezip import SafeZip
from .catalogue import MANUAL, NA, PASS
from .model import MemberFacts, Run, declared_files


def t_4_1_scanner_present(run: Run) -> None:
    """Which scanner ran; only a production-grade database passes, development signatures ask for a manual check."""
    scanner = run.opt.scanner
    if scanner is None:
        run.add("4-1", MANUAL, "no virus scanner configured (EARCHIVE_SCANNER=none): scan by hand")
        return
    label = f"{scanner.name}; {scanner.database_info}"
    if scanner.production_grade:
        run.add("4-1", PASS, label)
    else:
        run.add("4-1", MANUAL, label + " — development signatures only, production needs a real database")


def t_4_2_virus_free(run: Run, facts: dict[str, MemberFacts]) -> None:
    """No member matches a signature, and the scanner found nothing in the package as a whole.

    A scanner that failed has already failed 4-2 during the read; that verdict stands.
    """
    if run.opt.scanner is None:
        run.add("4-2", MANUAL, "not scanned: no scanner configured")
        return
    if "4-2" not in run.results:
        infected = [(p, f"matches {', '.join(f.virus)}") for p, f in facts.items() if f.virus]
        infected += [("", f"in the package: {finding}") for finding in run.package_findings]
        if infected or run.opt.scanner.production_grade:
            run.verdict("4-2", infected, f"{len(facts)} files scanned, nothing found")
        else:  # finding nothing with development signatures proves nothing: a person must scan (review F13)
            run.add("4-2", MANUAL, f"{len(facts)} files scanned with development signatures only "
                                   f"({run.opt.scanner.database_info}): nothing found, which proves nothing; scan with a production database")


def t_4_3_extra_files(run: Run, z: SafeZip, meta: md.ParsedMetadata) -> None:
    """Nothing in the package besides the metadata, the seal and the files the metadata declares."""
    declared = declared_files(meta)
    seal_files = seal_layout_of(z.members).files
    extra = [(p, "not declared in the metadata (extra file)") for p in z.members
             if p not in declared and p != METADATA_NAME and p not in seal_files]
    run.verdict("4-3", extra, "no extra files")


def t_4_4_carrier(run: Run) -> None:
    """Packages arrive online, so there is no physical carrier (载体) to inspect."""
    run.add("4-4", NA, "online transfer: no physical carrier (载体) to inspect")
