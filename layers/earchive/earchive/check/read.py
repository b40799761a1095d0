"""The single read of a package (ADR 0005): every member is read once, and only once.

Multi-GB packages make a second pass over the bytes the dominant cost, so one streaming pass
gathers everything the tests need — SM3 and SHA-256, the virus signatures of a streaming scanner,
the head (format by signature) and tail (PDF ``%%EOF``), and the whole member when it is small
enough for the parsers. zipfile verifies each CRC as the member reaches its end. Members are read
on as many threads as there are cores, one member each (zipfile lets readers of one archive share
its file), because one member's SM3 cannot be split; the facts are kept in member order. Nothing is ever
extracted; the tests work on the :class:`MemberFacts` returned here.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..crypto.digests import StreamDigest, available_cores
from ..domain.safezip import Member, SafeZip
from ..errors import ConfigurationError, TransientError
from .catalogue import FAIL
from .model import MemberFacts, Run

KEEP_IN_MEMORY = 8 * 1024**2  # small members are kept from the single read for the format checks
PARALLEL_FROM = 16 * 1024**2  # members are read on several threads only in a package at least this large


def read_members(run: Run, z: SafeZip, path: Path) -> dict[str, MemberFacts]:
    """The single read: digests, virus signatures, head/tail; CRC verified by zipfile.

    A scanner that reads the package itself (not ``streaming``) runs once over the file, and its
    findings are placed on the members they name. If it fails, GD-4-2 fails here, and the security
    tests leave that verdict alone.
    """
    scanner = run.opt.scanner
    if scanner is not None and not scanner.streaming and not isinstance(z.path, str):  # said before a byte is read
        raise ConfigurationError("a scanner that reads files (ClamAV) cannot scan a package read from S3 (too large for /tmp): "
                                 "use the built-in streaming scanner for such packages (ADR 0015)")

    def read_one(member: Member) -> MemberFacts:
        f = MemberFacts(member.path, member.size)
        session = scanner.session() if scanner is not None and scanner.streaming else None
        md_ = StreamDigest()
        keep = bytearray() if member.size <= KEEP_IN_MEMORY else None
        tail = b""
        try:
            with z.open(member) as stream:
                while chunk := stream.read(1 << 20):
                    md_.update(chunk)
                    if session:
                        session.update(chunk)
                    if not f.head:
                        f.head = chunk[:16]
                    tail = (tail + chunk)[-1024:] if len(chunk) < 1024 else chunk[-1024:]
                    if keep is not None:
                        keep += chunk
            d = md_.hexdigests()
            f.sm3, f.sha256, f.size, f.tail = d["SM3"], d["SHA-256"], md_.size, tail
            f.data = bytes(keep) if keep is not None else None
        except TransientError:
            md_.hexdigests()
            raise  # the source failed, not the package: check_package raises it for a retry
        except Exception as exc:  # noqa: BLE001 - CRC errors, bombs, truncation: all reported
            f.read_error = f"{type(exc).__name__}: {exc}"
            md_.hexdigests()
        if session:
            f.virus = session.hits
        return f

    members = list(z.iter_members())
    workers = min(len(members), run.opt.lanes or available_cores()) or 1
    if workers == 1 or sum(m.size for m in members) < PARALLEL_FROM:  # a small package: threads cost more than they save
        facts = {f.path: f for f in map(read_one, members)}
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="check-read") as pool:
            facts = {f.path: f for f in pool.map(read_one, members)}  # in member order, whatever finished first
    if scanner is not None and not scanner.streaming:
        hits, error = scanner.scan_file(str(path))
        unplaced = []
        for obj, sig in hits:
            inner = obj.split("!", 1)[-1] if "!" in obj else obj
            if inner in facts:
                facts[inner].virus.append(sig)
            else:  # clamscan names the zip itself, or something nested deeper
                unplaced.append(f"{Path(obj).name}: {sig}")
        if error:
            run.add("4-2", FAIL, f"the scanner failed: {error}")
        run.package_findings = unplaced
    return facts
