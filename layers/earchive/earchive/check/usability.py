"""Usability (可用性, DA/T 70 GD-3-x / YJ-3-x): can the metadata and the content be opened and used?

One function per test code, each recording its verdict on the :class:`Run`; the orchestrator in
``check/__init__.py`` decides the order. Formats are judged on the head kept by the single read
(:mod:`.read`). The readers of 3-4 parse small members from the bytes the read kept; a member too
large to keep is opened again for its reader (as a byte range of the zip when stored, ADR 0005),
and only when its format passed 3-3.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from lxml import etree

from ..domain import metadata as md
from ..domain.formats import Opener, Readability, check_readable, identify, kind_matches
from ..domain.layout import METADATA_NAME
from ..domain.safezip import SafeZip
from .catalogue import FAIL, MANUAL, NA, PASS
from .model import MemberFacts, Problems, Run, declared_files


def t_3_1_metadata_readable(run: Run, z: SafeZip, facts: dict[str, MemberFacts]) -> md.ParsedMetadata | None:
    """The metadata XML is there, was read whole, and parses as UTF-8 XML; returns it parsed for the other tests.

    Without it (None) no test of the metadata or the content can run; 1-12 reports the same causes.
    """
    if METADATA_NAME not in z.members:
        run.add("3-1", FAIL, f"{METADATA_NAME} is missing", [METADATA_NAME])
        return None
    f = facts[METADATA_NAME]
    if f.read_error or f.data is None:
        run.add("3-1", FAIL, f"cannot read: {f.read_error or 'larger than 8 MiB'}", [METADATA_NAME])
        return None
    try:
        f.data.decode("utf-8")
        meta = md.parse(f.data)
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError) as exc:
        run.add("3-1", FAIL, f"not well-formed UTF-8 XML: {exc}", [METADATA_NAME])
        return None
    run.add("3-1", PASS, f"UTF-8 XML, {len(f.data)} bytes, root <{meta.tree.tag}>")
    return meta


def t_3_2_catalogue_access(run: Run, meta: md.ParsedMetadata) -> None:
    """The catalogue record can be read back; offline there is no catalogue, so the pipeline checks it."""
    if run.opt.catalogue_reader is None:
        run.add("3-2", NA, "offline check: the catalogue (DynamoDB) is checked by the pipeline's register step")
    else:
        ok = run.opt.catalogue_reader(meta.fields.get("electronic_record_code", ""))
        run.add("3-2", PASS if ok else FAIL, "catalogue record readable" if ok else "catalogue record not found")


def _format_problem(name: str, f: MemberFacts, allowed: set[str]) -> str | None:
    """Why a file fails 3-3 (extension not allowed, or the signature says otherwise), or None."""
    ext = PurePosixPath(name).suffix.lower().lstrip(".")
    detected = identify(f.head)
    if ext not in allowed:
        return f".{ext} is not an allowed archival format ({', '.join(sorted(allowed))})"
    if not kind_matches(ext, detected):
        return f"extension .{ext} but the content is {detected or 'unrecognised'} by signature"
    return None


def _readable_candidates(meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> list[tuple[str, MemberFacts]]:
    """Declared files that are in the package and read to their end (the others fail 2-11 or 2-7)."""
    found = ((name, facts.get(name)) for name in declared_files(meta))
    return [(name, f) for name, f in found if f is not None and not f.read_error]


def t_3_3_content_format(run: Run, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    allowed = set(run.opt.allowed_formats)
    problems: Problems = []
    for name, f in _readable_candidates(meta, facts):
        why = _format_problem(name, f, allowed)
        if why:
            problems.append((name, why))
    run.verdict("3-3", problems, "formats allowed and confirmed by signature")


def _opener(z: SafeZip, name: str, f: MemberFacts) -> Opener:
    """The bytes kept by the single read, or for a large member a byte range of the zip (or a stream)."""
    if f.data is not None:
        data = f.data
        return lambda: io.BytesIO(data)
    member = z.members[name]
    return lambda: z.stored_window(member) or z.open(member)


def t_3_4_content_readable(run: Run, z: SafeZip, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> dict[str, Readability]:
    """Open every file whose format passed 3-3 with a real reader; returns what each reader found (3-8 uses it)."""
    allowed = set(run.opt.allowed_formats)
    declared = declared_files(meta)
    results: dict[str, Readability] = {}
    problems: Problems = []
    by_hand: Problems = []
    for name, f in _readable_candidates(meta, facts):
        if _format_problem(name, f, allowed) is not None:
            continue
        result = check_readable(name, _opener(z, name, f), f.tail)
        results[name] = result
        if not result.ok:
            problems.append((name, result.detail))
        elif result.manual:
            by_hand.append((name, result.detail))
    if problems or not by_hand:
        run.verdict("3-4", problems, f"all {len(declared)} files open")
    else:  # within budget nothing failed, but not everything was examined: a person opens those (never a pass)
        run.add("3-4", MANUAL, "; ".join(f"{obj}: {why}" for obj, why in by_hand[:20]), sorted({o for o, _ in by_hand}))
    return results


def t_3_8_format_compliance(run: Run, z: SafeZip, readability: dict[str, Readability]) -> None:
    """No encrypted content (as the readers of 3-4 found), no encrypted member, nothing SafeZip flagged."""
    problems: Problems = [(name, "content is encrypted") for name, result in readability.items() if result.encrypted]
    for name, member in z.members.items():
        if member.info.flag_bits & 0x1:
            problems.append((name, "zip member is encrypted"))
    problems += [(p.file or "", p.message) for p in z.problems if p.rule in ("PACKAGE-ENCRYPTED", "PACKAGE-NOT-ZIP")]
    run.verdict("3-8", problems, "no encryption, stored/deflate only")
