"""Integrity (完整性, DA/T 70 GD-2-x / YJ-2-x): is everything there that should be, and all of it?

One function per test code, each recording its verdict on the :class:`Run`; the orchestrator in
``check/__init__.py`` decides the order. Counts and sizes come from the single read
(:mod:`.read`), so no member is read again here.
"""

from __future__ import annotations

from ..domain import metadata as md
from ..domain.layout import METADATA_NAME, seal_layout_of
from ..domain.safezip import SafeZip
from .catalogue import FILE_MANDATORY, MANDATORY, PROFILE_ELEMENTS, parse_datetime
from .model import MemberFacts, Problems, Run, content_members, declared_files


def t_2_1_file_count(run: Run, z: SafeZip, meta: md.ParsedMetadata) -> None:
    """total_number, the files the metadata lists and the content files in the package all agree."""
    members = content_members(z)
    total = meta.fields.get("total_number", "")
    counts = [] if total == str(len(meta.files)) == str(len(members)) else [
        (METADATA_NAME, f"total_number={total}, metadata lists {len(meta.files)}, package holds {len(members)}")]
    run.verdict("2-1", counts, f"{len(meta.files)} files")


def t_2_2_byte_count(run: Run, z: SafeZip, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """total_bytes, the sum of the declared sizes and the bytes of the content in the package all agree."""
    declared_bytes = sum(int(e.fields.get("computer_file_size", "0") or 0) for e in meta.files if e.fields.get("computer_file_size", "").isdigit())
    actual_bytes = sum(facts[p].size for p in content_members(z))
    tb = meta.fields.get("total_bytes", "")
    run.verdict("2-2", [] if tb == str(declared_bytes) == str(actual_bytes) else [
        (METADATA_NAME, f"total_bytes={tb}, sum of file sizes {declared_bytes}, bytes in package {actual_bytes}")],
        f"{actual_bytes} bytes")


def t_2_3_profile_elements(run: Run, meta: md.ParsedMetadata) -> None:
    """Every element of the metadata profile is present (empty or not: that is 2-4)."""
    present = {el.tag for el in meta.tree if isinstance(el.tag, str)}
    missing = [e for e in PROFILE_ELEMENTS if e not in present]
    run.verdict("2-3", [(METADATA_NAME, f"element <{e}> missing") for e in missing], f"all {len(PROFILE_ELEMENTS)} profile elements present")


def t_2_4_mandatory_filled(run: Run, meta: md.ParsedMetadata) -> None:
    """Mandatory case elements that are present are not empty (a missing one is 2-3's), nor are the file records'."""
    present = {el.tag for el in meta.tree if isinstance(el.tag, str)}
    empty = [(METADATA_NAME, f"<{e}> is empty") for e in MANDATORY if e in present and not meta.fields.get(e, "").strip()]
    for entry in meta.files:
        empty += [(entry.fields.get("computer_file_name", f"seq {entry.seq}"), f"<{e}> is missing or empty")
                  for e in FILE_MANDATORY if not entry.fields.get(e, "").strip()]
    run.verdict("2-4", empty, f"{len(MANDATORY)} mandatory case elements and file elements filled")


def t_2_5_process_complete(run: Run, meta: md.ParsedMetadata) -> None:
    """The process record has 受理 and 办结, its steps in time order, each with an actor."""
    steps = [p.get("step", "") for p in meta.process]
    proc: Problems = [(METADATA_NAME, f"no {s} step in process_info") for s in ("受理", "办结") if s not in steps]
    ptimes = [parse_datetime(p.get("time", "")) for p in meta.process]
    for i, (x, y) in enumerate(zip(ptimes, ptimes[1:]), 2):
        if x and y and y < x:
            proc.append((METADATA_NAME, f"process step {i} is earlier than step {i - 1}"))
    for i, p in enumerate(meta.process, 1):
        if not p.get("actor", "").strip():
            proc.append((METADATA_NAME, f"process step {i} has no actor (经办人)"))
    run.verdict("2-5", proc, f"{len(steps)} steps: {' → '.join(steps)}")


def t_2_6_continuity(run: Run, meta: md.ParsedMetadata) -> None:
    """件内顺序号 and the process sequence run 1..n without gaps."""
    seqs = sorted(e.seq for e in meta.files if e.seq is not None)
    cont: Problems = []
    if seqs != list(range(1, len(meta.files) + 1)):
        cont.append((METADATA_NAME, f"件内顺序号 {seqs} do not run 1..{len(meta.files)}"))
    pseq = [p.get("seq", "") for p in meta.process]
    if pseq != [str(i) for i in range(1, len(pseq) + 1)]:
        cont.append((METADATA_NAME, f"process seq {pseq} do not run 1..{len(pseq)}"))
    run.verdict("2-6", cont, f"件内顺序号 1..{len(seqs)} continuous")


def t_2_7_content_complete(run: Run, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """Every declared file in the package reads to its end (CRC checked by the read) and is not empty."""
    problems: Problems = []
    for name in declared_files(meta):
        f = facts.get(name)
        if f is None:
            continue  # 2-11 reports it
        if f.read_error:
            problems.append((name, f"does not read to its end: {f.read_error}"))
        elif f.size == 0:
            problems.append((name, "zero bytes"))
    run.verdict("2-7", problems, "every file non-empty, read to its end, CRC correct")


def t_2_9_archiving_scope(run: Run, meta: md.ParsedMetadata) -> None:
    """A finished case has at least 申报文件 and 结果文件."""
    folders = {e.folder for e in meta.files}
    scope = [(METADATA_NAME, f"no {c}") for c in ("申报文件", "结果文件") if c not in folders]
    run.verdict("2-9", scope, "申报文件 and 结果文件 present")


def t_2_10_package_metadata(run: Run, z: SafeZip) -> None:
    """The metadata and every seal file are in the package."""
    missing = [(n, "missing") for n in (METADATA_NAME, *seal_layout_of(z.members).files) if n not in z.members]
    run.verdict("2-10", missing, "metadata, both manifests, signature and timestamp present")


def t_2_11_declared_present(run: Run, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """Every file the metadata declares is in the package."""
    declared = declared_files(meta)
    missing = [(name, "declared in the metadata but not in the package") for name in declared if name not in facts]
    run.verdict("2-11", missing, f"all {len(declared)} declared files present")
