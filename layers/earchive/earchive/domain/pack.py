"""Pack (形成信息包): one compressed archive information package per case.

SM3 is the cost: six times SHA-256's, and one SM3 cannot be split. On a local
source, threads read the next files ahead and compute their digests, one file
per core, while the writer copies each file into the zip in order; the
writer's CRC-32 and size must equal the look-ahead's, so a source that changed
between the two reads is named, not archived (and Check recomputes every
digest from the package anyway). On a source read by ranged GETs (the
pipeline) each material is read once: the same chunk feeds SM3, SHA-256 and
the zip writer. The package is written to a
hidden ``.part`` file in the output folder and renamed into place only when
it is complete and sealed, so a failure leaves nothing half-written and the
bundle is never modified.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from ..crypto.digests import CHUNK, StreamDigest, available_cores, digest_source, hexdigest
from ..crypto.signers import make_signer, make_tsa
from ..errors import EarchiveError, Problem, reject
from . import metadata
from .collect import CaseRecord, collect
from .layout import ALL_SEAL_NAMES, METADATA_NAME
from .organise import LocalSerials, Plan, PlannedFile, organise, serial_prefix
from .safezip import SeekableReader, ZipLimits
from .seal import MANIFEST_SHA256, MANIFEST_SM3, Seal, layout_for, manifests, seal

log = logging.getLogger(__name__)

# Already-compressed formats are stored: deflating them costs ~10x and saves nothing.
STORED_FORMATS = {"pdf", "ofd", "jpg", "jpeg", "png", "tif", "tiff", "zip", "mp4", "mp3"}
Progress = Callable[[str, int, int], None]  # (member, bytes done in package, total bytes)


@dataclass
class PackResult:
    """What pack made: where, under which code, and the digest of every file."""

    path: Path
    record_code: str
    project_id: str
    files: list[dict] = field(default_factory=list)
    total_bytes: int = 0
    seconds: float = 0.0
    signer: str = ""
    tsa: str = ""
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # (name, sm3, sha256), manifest order

    def as_dict(self) -> dict:
        return {
            "package": str(self.path), "record_code": self.record_code, "project_id": self.project_id,
            "total_bytes": self.total_bytes, "seconds": round(self.seconds, 3), "signer": self.signer,
            "tsa": self.tsa, "files": self.files,
        }


class _Writeback:
    """Start writing the package to disk while hashing goes on (fdatasync every 64 MiB in a thread).

    The package is fsync'ed before it is renamed into place; without this the
    final fsync would write gigabytes at disk speed after all the CPU work.
    """

    STEP = 64 * 1024**2

    def __init__(self, fileno: int):
        from concurrent.futures import ThreadPoolExecutor

        self._fd, self._since, self._pending = fileno, 0, None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="writeback")

    def __call__(self, chunk: bytes) -> None:
        self._since += len(chunk)
        if self._since >= self.STEP and (self._pending is None or self._pending.done()):
            self._since = 0
            self._pending = self._pool.submit(os.fdatasync, self._fd)

    def __enter__(self) -> _Writeback:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pending is not None:
            self._pending.exception()  # wait; a failed early flush is redone by the final fsync
        self._pool.shutdown()


class _LookAhead:
    """The digests of a plan's files, computed ``workers`` files at a time ahead of the writer.

    The results are small (two digests, a size, a CRC), so running ahead holds no bytes. On the
    way out, files not yet started are cancelled and running ones awaited: nothing outlives pack.
    """

    def __init__(self, files: list[PlannedFile], workers: int):
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="digest-ahead")
        self._futures = [self._pool.submit(digest_source, f.material.source.open) for f in files]

    def result(self, n: int) -> tuple[dict[str, str], int, int]:
        return self._futures[n].result()

    def __enter__(self) -> _LookAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _zip_time(when: dt.datetime) -> tuple[int, int, int, int, int, int]:
    local = when.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def _zipinfo(name: str, when: dt.datetime, stored: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_zip_time(when))
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    info.create_system = 3  # Unix: permissions above are meaningful
    return info


def _write_bytes(zf: zipfile.ZipFile, name: str, data: bytes, when: dt.datetime, stored: bool = False) -> None:
    zf.writestr(_zipinfo(name, when, stored), data)


def _write_seal(zf: zipfile.ZipFile, entries: list[tuple[str, str, str]], signer, tsa, now: dt.datetime) -> Seal:
    """Write manifests, signature and timestamp for ``entries`` into an open package."""
    sm3_manifest, sha_manifest = manifests(entries, layout_for(signer))
    sealed = seal(sm3_manifest, sha_manifest, signer, tsa)
    _write_bytes(zf, MANIFEST_SM3, sealed.manifest_sm3, now)
    _write_bytes(zf, MANIFEST_SHA256, sealed.manifest_sha256, now)
    _write_bytes(zf, sealed.layout.signature, sealed.signature, now, stored=True)
    _write_bytes(zf, sealed.layout.timestamp, sealed.timestamp, now, stored=True)
    return sealed


class AppendView(SeekableReader):
    """A zip as zipfile's append mode needs it, without a copy of its members (ADR 0015).

    Bytes before the central directory are read from ``original`` (a package in S3, read by
    ranges) and never written; from the directory on, the bytes live in memory, where zipfile
    appends the seal's members and writes the new directory. The sealed package is then the
    original's first :attr:`keep` bytes, copied server-side, followed by :attr:`tail`.
    """

    def __init__(self, original: BinaryIO):
        end = zipfile._EndRecData(original)  # (the stdlib's own reader of the end record, as SafeZip uses it)
        if not end:
            raise reject("SEAL-CONFIG", "the unsealed package has no end-of-central-directory record", file=getattr(original, "name", None))
        self._original, self.keep = original, end[zipfile._ECD_OFFSET]
        original.seek(self.keep)
        self.tail = bytearray(original.read())
        self._pos = 0

    @property
    def _length(self) -> int:  # type: ignore[override]
        return self.keep + len(self.tail)

    def writable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._pos < self.keep:
            self._original.seek(self._pos)
            data = self._original.read(min(len(buffer), self.keep - self._pos))
        else:
            data = bytes(self.tail[self._pos - self.keep:self._pos - self.keep + len(buffer)])
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def write(self, data) -> int:  # type: ignore[override]
        if self._pos < self.keep:
            raise OSError(f"write at {self._pos}, before the central directory at {self.keep}: the members are never rewritten")
        at = self._pos - self.keep
        self.tail[at:at + len(data)] = data
        self._pos += len(data)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        del self.tail[max(0, size - self.keep):]
        return size


def seal_package(path: Path | BinaryIO, entries: list[tuple[str, str, str]], *, signer=None, tsa=None,
                 now: dt.datetime | None = None) -> Seal:
    """Seal (固化) a package written with ``sealed=False``: append manifests, signature, timestamp.

    ``path`` is the package file, or an :class:`AppendView` of one in S3. ``entries`` are the
    digests pack computed in its single read; the check step recomputes everything
    independently, so a wrong entry cannot pass.
    """
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    if not isinstance(path, Path):
        path.seek(0)
    if names & ALL_SEAL_NAMES:
        raise reject("SEAL-CONFIG", "the package is sealed already", file=str(path))
    missing = [name for name, _, _ in entries if name not in names]
    if missing:
        raise reject("SEAL-CONFIG", f"entries not in the package: {missing[:3]}", file=str(path))
    with zipfile.ZipFile(path, "a", allowZip64=True) as zf:
        return _write_seal(zf, entries, signer or make_signer(), tsa or make_tsa(), now or dt.datetime.now(dt.UTC))


def _fill(zf: zipfile.ZipFile, plan: Plan, now: dt.datetime, workers: int, sink: Callable[[bytes], object],
          progress: Progress | None, member_starts: Callable[[], None] = lambda: None,
          ) -> tuple[dict[str, metadata.FileDigests], list[tuple[str, str, str]], int]:
    """Write every material, then the metadata, into an open zip; (digests, manifest entries, bytes).

    ``member_starts`` is called as each member begins (a streamed package holds its header there).
    """
    case_id, total, done = plan.record.project_id, sum(f.material.declared_size for f in plan.files), 0
    digests: dict[str, metadata.FileDigests] = {}
    with _LookAhead(plan.files if workers > 1 else [], workers) as ahead:
        for n, planned in enumerate(plan.files):
            m = planned.material
            info = _zipinfo(planned.member, m.created or now, m.extension in STORED_FORMATS)
            digest = StreamDigest() if workers == 1 else None
            member_starts()
            try:
                with m.source.open() as src, zf.open(info, "w", force_zip64=m.declared_size * 1.05 > zipfile.ZIP64_LIMIT) as dst:
                    while chunk := src.read(CHUNK):
                        if digest is not None:
                            digest.update(chunk)
                        dst.write(chunk)
                        sink(chunk)
                        done += len(chunk)
                        if progress:
                            progress(planned.member, done, total)
                if digest is not None:
                    values, size = digest.hexdigests(), digest.size
                else:
                    values, size, crc = ahead.result(n)
                    if (crc, size) != (info.CRC, info.file_size):
                        raise reject("MATERIAL-CHANGED", f"read twice while packing and the bytes differed ({size} then "
                                     f"{info.file_size} bytes): the source changed under pack", case=case_id, file=m.file_name)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise reject("MATERIAL-CORRUPT", f"damaged in the bundle: {exc}", case=case_id, file=m.file_name) from None
            finally:
                if digest is not None:
                    digest.abandon()  # ends its SM3 thread if the read failed (a no-op once hexdigests ran)
            if size != m.declared_size:
                raise reject("MATERIAL-SIZE", f"read {size} bytes, {m.declared_size} declared (truncated or damaged)",
                             case=case_id, file=m.file_name)
            if values[m.digest_algorithm] != m.digest_value:
                raise reject("MATERIAL-DIGEST", f"{m.digest_algorithm} is {values[m.digest_algorithm]}, "
                             f"the platform declared {m.digest_value} (corrupted in transit?)", case=case_id, file=m.file_name)
            digests[planned.member] = metadata.FileDigests(values["SM3"], values["SHA-256"], size)
    xml = metadata.build(plan, digests, now)
    member_starts()
    _write_bytes(zf, METADATA_NAME, xml, now)
    xml_digests = metadata.FileDigests(hexdigest("SM3", xml), hexdigest("SHA-256", xml), len(xml))
    entries = [(METADATA_NAME, xml_digests.sm3, xml_digests.sha256)] + [
        (f.member, digests[f.member].sm3, digests[f.member].sha256) for f in plan.files
    ]
    return digests, entries, done


def write_package(
    plan: Plan,
    out_dir: Path,
    *,
    signer=None,
    tsa=None,
    overwrite: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    sealed: bool = True,
    lanes: int | None = None,
) -> PackResult:
    """Write the package of an organised case into ``out_dir``; sealed unless ``sealed=False``.

    With ``lanes`` > 1 (default: the cores this process has) the digests of the next files are
    computed on that many threads while the zip is written in order (:class:`_LookAhead`); with
    ``lanes=1`` every material is read once, digest and write from the same chunk, which is what
    a source read by ranged GETs needs (the pipeline).

    The pipeline packs and seals in two steps (two Lambdas): it packs with
    ``sealed=False`` and passes ``PackResult.entries`` to :func:`seal_package`.
    """
    started = time.monotonic()
    record: CaseRecord = plan.record
    case_id = record.project_id
    if sealed:
        signer = signer or make_signer()
        tsa = tsa or make_tsa()
    now = now or dt.datetime.now(dt.UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / plan.package_name
    if final.exists() and not overwrite:
        raise reject("OUTPUT-EXISTS", f"{final} exists already (use --force to replace it)", case=case_id, file=str(final))
    part = out_dir / f".{plan.package_name}.{os.getpid()}.part"
    workers = lanes if lanes is not None else available_cores()
    try:
        # the look-ahead and the writeback are stopped (their threads ended) before the zip is closed, failure or not
        with zipfile.ZipFile(part, "w", allowZip64=True) as zf, _Writeback(zf.fp.fileno()) as writeback:  # type: ignore[union-attr]
            digests, entries, done = _fill(zf, plan, now, workers, writeback, progress)
            seal_result = _write_seal(zf, entries, signer, tsa, now) if sealed else None
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return _result(plan, final, digests, entries, done, started, seal_result)


class HeaderSink(Protocol):
    """Where a streamed package goes: written in order, except that the header of the member being
    written may be rewritten until :meth:`hold_header` is called for the next one."""

    def write(self, data: bytes, /) -> int: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def flush(self) -> None: ...
    def seekable(self) -> bool: ...
    def hold_header(self) -> None: ...


def stream_package(plan: Plan, sink: HeaderSink, *, progress: Progress | None = None, now: dt.datetime | None = None) -> PackResult:
    """Write the unsealed package of an organised case into ``sink`` (ADR 0015).

    For a case larger than the function's working space: ``sink`` is a multipart upload, so no
    byte touches /tmp. Each member's header is rewritten with its CRC and sizes, as in a file, so
    the package has no data descriptors. One reader: the bundle is read by ranged GETs.
    """
    started = time.monotonic()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:  # type: ignore[arg-type]
        digests, entries, done = _fill(zf, plan, now or dt.datetime.now(dt.UTC), 1, lambda chunk: None, progress, sink.hold_header)
    return _result(plan, Path(plan.package_name), digests, entries, done, started, None)


def _result(plan: Plan, path: Path, digests: dict[str, metadata.FileDigests], entries: list[tuple[str, str, str]], done: int,
            started: float, sealed: Seal | None) -> PackResult:
    files = [
        {"seq": f.material.seq, "category": f.material.category, "source": f.material.file_name, "member": f.member,
         "size": digests[f.member].size, "sm3": digests[f.member].sm3, "sha256": digests[f.member].sha256}
        for f in plan.files
    ]
    result = PackResult(path, plan.record_code, plan.record.project_id, files, done, time.monotonic() - started,
                        sealed.signer if sealed else "", sealed.tsa if sealed else "", entries)
    log.info("packed %s (%s): %d files, %d bytes in %.2fs", plan.record_code, plan.record.project_id, len(files), done, result.seconds)
    return result


def pack(
    bundle: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    serial: int | None = None,
    signer=None,
    tsa=None,
    overwrite: bool = False,
    progress: Progress | None = None,
    limits: ZipLimits | None = None,
    lanes: int | None = None,
) -> PackResult:
    """Collect, organise, pack and seal one case bundle (folder or zip)."""
    record, opened = collect(bundle, limits)
    try:
        if serial is None:
            serial = record.case.get("archive_serial") or LocalSerials().allocate(serial_prefix(record.case), record.project_id)
        plan = organise(record, serial)
        return write_package(plan, Path(out_dir), signer=signer, tsa=tsa, overwrite=overwrite, progress=progress, lanes=lanes)
    except EarchiveError as exc:
        raise exc.with_case(record.project_id) from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:  # a member that fails its CRC or vanishes mid-read
        raise EarchiveError(Problem("BUNDLE-NOT-ZIP", f"could not read the bundle: {exc}", record.project_id, str(bundle))) from None
    finally:
        opened.close()
