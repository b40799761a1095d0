"""Reading zips that may be hostile: bundles from the platform and packages at receipt.

Python's ``zipfile`` trusts what a zip says about itself. An archive system
cannot: members may climb out with ``../``, lie about their size (zip bombs),
overlap each other (Fifield's non-recursive bombs), be encrypted, or carry
names written in GBK by Windows tools from the GBK era without the UTF-8
flag. This module reads a zip only after checking all of that, and yields
members as streams whose size is enforced while they are read.
"""

from __future__ import annotations

import io
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from ..errors import EarchiveError, Problem, reject

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
UNICODE_PATH_EXTRA = 0x7075
LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True)
class ZipLimits:
    """Bounds a zip must stay within; the defaults fit a case with a few multi-GB scans."""

    max_members: int = 20_000
    max_member_bytes: int = 16 * 1024**3
    max_total_bytes: int = 64 * 1024**3
    # Ratio uncompressed/compressed over which a member counts as a bomb; only
    # for members large enough to matter (tiny XML compresses very well).
    max_ratio: int = 200
    ratio_floor_bytes: int = 8 * 1024**2


DEFAULT_LIMITS = ZipLimits()
_FORBIDDEN_CHARS = set('\\:*?"<>|') | {chr(c) for c in range(32)} | {"\x7f"}


def name_key(name: str) -> str:
    """Key under which two names count as the same file (NFC + case folding)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def decode_raw_name(raw: bytes) -> str | None:
    """Decode a name written without the UTF-8 flag: UTF-8 if it is valid, else GB18030.

    Windows tools of the GBK era (WinRAR, 360压缩, Explorer on zh-CN) write names in
    the ANSI code page without setting the flag. GB18030 is a superset of GBK and
    GB2312. Valid UTF-8 almost never decodes by accident from GBK text, so UTF-8 is
    tried first.
    """
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _unicode_path_extra(extra: bytes, raw_name: bytes) -> str | None:
    """The Info-ZIP Unicode Path extra field (0x7075), if present and current."""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + size]
        i += 4 + size
        if tag == UNICODE_PATH_EXTRA and len(body) >= 5 and body[0] == 1:
            (crc,) = struct.unpack_from("<I", body, 1)
            if crc == zlib.crc32(raw_name) & 0xFFFFFFFF:
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def member_name(info: zipfile.ZipInfo) -> str | None:
    """The real name of a member, decoded right (never as cp437 mojibake)."""
    if info.flag_bits & UTF8_FLAG:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")  # zipfile decoded the raw bytes as cp437
    return _unicode_path_extra(info.extra, raw) or decode_raw_name(raw)


def safe_relative_path(name: str) -> str | None:
    """The NFC, '/'-separated relative path of ``name``, or None when it is unsafe."""
    if not name or "\x00" in name:
        return None
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        return None
    parts = unified.rstrip("/").split("/")
    for part in parts:
        if part in ("", ".", "..") or any(c in _FORBIDDEN_CHARS for c in part):
            return None
        if part != part.strip() or part.endswith("."):
            return None  # trailing dots/spaces vanish on Windows and collide
    return unicodedata.normalize("NFC", "/".join(parts))


@dataclass
class Member:
    """One regular file in a zip, with its decoded, checked name."""

    path: str
    info: zipfile.ZipInfo

    @property
    def size(self) -> int:
        return self.info.file_size


class _BoundedReader(io.RawIOBase):
    """Stream a member, failing if it yields more bytes than its header declared."""

    def __init__(self, inner: BinaryIO, declared: int, path: str):
        self._inner, self._left, self._path = inner, declared, path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if len(data) > self._left:
            raise reject("BUNDLE-BOMB", "member inflates past its declared size", file=self._path)
        if not data and len(buffer):
            self._at_end()
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def _at_end(self) -> None:
        """Every compressed byte of the entry belongs to its deflate stream (review F10).

        zipfile stops at the deflate stream's end and ignores what follows inside the entry's
        compressed size; those bytes would be seen by no digest, check or scanner.
        """
        inner = self._inner
        if not hasattr(inner, "_compress_left") or not hasattr(inner, "_decompressor"):  # not zipfile's reader: fail closed
            raise reject("BUNDLE-LAYOUT", "the entry's end cannot be verified with this Python's zipfile", file=self._path)
        decompressor = inner._decompressor
        if decompressor is None or not hasattr(decompressor, "unconsumed_tail"):  # stored: the bytes are the data
            return
        # zipfile stops once it has file_size bytes: run the rest of the entry through the same stream
        after_end = 0
        left = max(int(inner._compress_left or 0), 0)
        chunk = decompressor.unconsumed_tail
        while True:
            if chunk:
                if decompressor.eof:
                    after_end += len(chunk)
                elif decompressor.decompress(chunk, 1):
                    raise reject("BUNDLE-LAYOUT", "the deflate stream goes on past the entry's declared size "
                                                  "(inflated bytes no reader of the file sees)", file=self._path)
            if left <= 0:
                break
            chunk = inner._fileobj.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)
        hidden = after_end + len(decompressor.unused_data)
        if hidden:
            raise reject("BUNDLE-LAYOUT", f"the deflate stream ends {hidden} bytes before the entry's compressed size "
                                          "(bytes no reader of the file sees)", file=self._path)
        if not decompressor.eof:
            raise reject("BUNDLE-LAYOUT", "the deflate stream does not end within its entry", file=self._path)

    def close(self) -> None:
        self._inner.close()
        super().close()


class SafeZip:
    """A zip whose members have been checked before anything is read from them.

    ``problems`` lists what is wrong; :meth:`raise_problems` turns them into one
    :class:`EarchiveError`. Callers that build reports (the checks) read
    ``problems``; callers that reject (intake) raise.
    """

    def __init__(self, path: str | BinaryIO, limits: ZipLimits = DEFAULT_LIMITS, *, rule_prefix: str = "BUNDLE",
                 verify_layout: bool = True, reopen: Callable[[], BinaryIO] | None = None):
        self.path = path
        self._reopen = reopen  # a fresh reader of the same bytes, for stored windows when ``path`` is a stream
        self._verify_layout = verify_layout  # False only where the same bytes were verified already (one ranged GET per entry on S3)
        self.limits = limits
        self.problems: list[Problem] = []
        self.members: dict[str, Member] = {}
        self.directories: set[str] = set()
        self._prefix = rule_prefix
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            label = path if isinstance(path, str) else "(stream)"
            raise reject(f"{rule_prefix}-NOT-ZIP", f"not a readable zip: {exc}", file=label) from None
        self._scan()

    def _problem(self, rule: str, message: str, file: str | None) -> None:
        self.problems.append(Problem(rule=f"{self._prefix}-{rule}", message=message, file=file))

    def _scan(self) -> None:
        infos = self.zf.infolist()
        if len(infos) > self.limits.max_members:
            self._problem("LIMIT", f"{len(infos)} members, limit {self.limits.max_members}", None)
            return
        seen: dict[str, str] = {}
        total = 0
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            name = member_name(info)
            shown = name if name is not None else info.orig_filename
            if name is None:
                self._problem("NAME-ENCODING", "member name is neither UTF-8 nor GB18030", shown)
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                self._problem("PATH", "symbolic links are not allowed", shown)
                continue
            path = safe_relative_path(name)
            if path is None:
                self._problem("PATH", "absolute, '..', empty or forbidden-character path", shown)
                continue
            if info.is_dir() or name.endswith(("/", "\\")):
                self.directories.add(path)
                continue
            key = name_key(path)
            if key in seen:
                self._problem("DUPLICATE", f"same name as {seen[key]!r} after NFC and case folding", path)
                continue
            seen[key] = path
            if info.flag_bits & ENCRYPTED_FLAG:
                self._problem("ENCRYPTED", "member is encrypted", path)
                continue
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                self._problem("NOT-ZIP", f"compression method {info.compress_type} is not public/allowed", path)
                continue
            if info.file_size > self.limits.max_member_bytes:
                self._problem("LIMIT", f"{info.file_size} bytes, limit {self.limits.max_member_bytes}", path)
                continue
            if (
                info.file_size > self.limits.ratio_floor_bytes
                and info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
            ):
                ratio = info.file_size // max(info.compress_size, 1)
                self._problem("BOMB", f"compression ratio {ratio}:1 over {self.limits.max_ratio}:1", path)
                continue
            total += info.file_size
            spans.append((info.header_offset, info.header_offset + LOCAL_HEADER_SIZE + info.compress_size, path))
            self.members[path] = Member(path=path, info=info)
        if total > self.limits.max_total_bytes:
            self._problem("BOMB", f"{total} bytes uncompressed, limit {self.limits.max_total_bytes}", None)
        # a name that is a file and a folder at once (`case.json` beside `case.json/` or `case.json/x`): no extractor can
        # write both, and readers disagree on which they see
        folders = {name_key(d.rstrip("/")) for d in self.directories}
        folders |= {name_key(str(a)) for p in [*self.directories, *self.members] for a in PurePosixPath(p.rstrip("/")).parents}
        for path in sorted(self.members):
            if name_key(path) in folders:
                self._problem("DUPLICATE", "the same name is a file and a folder", path)
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
            if start < end:
                self._problem("BOMB", f"member data overlaps {first!r} (overlapping-entry zip bomb)", second)
        for info in infos:
            if info.is_dir() and info.file_size:  # (a DEFLATED empty folder entry has 2 compressed bytes: Java writes them)
                self._problem("LAYOUT", f"a folder entry carries {info.compress_size} bytes of data", info.orig_filename)
        if not self.problems and self._verify_layout:
            self._check_layout(infos)

    @staticmethod
    def _next_offset(infos: list[zipfile.ZipInfo], info: zipfile.ZipInfo, directory: int) -> int:
        """Where the entry after ``info`` starts (or the central directory)."""
        later = [i.header_offset for i in infos if i.header_offset > info.header_offset]
        return min(later) if later else directory

    def _check_layout(self, infos: list[zipfile.ZipInfo]) -> None:
        """One zip, one view (review F10): the entries tile the file from byte 0 up to the central directory.

        zipfile reads only the central directory; a streaming reader (Java's ZipInputStream, bsdtar)
        reads local headers from the start. Bytes before the first entry, gaps between entries (where
        a local entry the directory does not list can hide), or anything but the directory and its end
        record after the last entry would let one reader see a file the seal, the check and the virus
        scan never saw. Each local header must also agree with its directory entry.
        """
        fp = self.zf.fp
        try:
            endrec = zipfile._EndRecData(fp)  # (the stdlib's own reader of the end record)
        except OSError:
            endrec = None
        if not endrec:
            self._problem("LAYOUT", "no end-of-central-directory record", None)
            return
        size_cd, offset_cd, location = endrec[zipfile._ECD_SIZE], endrec[zipfile._ECD_OFFSET], endrec[zipfile._ECD_LOCATION]
        zip64_records = 76 if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64 else 0  # zip64 end record + locator
        concat = location - zip64_records - size_cd - offset_cd
        if concat != 0:
            self._problem("LAYOUT", f"{concat} bytes before the first entry (prepended data a streaming reader would see)", None)
            return
        position = 0
        for info in sorted(infos, key=lambda i: i.header_offset):
            if info.header_offset != position:
                what = "a gap of" if info.header_offset > position else "an overlap of"
                self._problem("LAYOUT", f"{what} {abs(info.header_offset - position)} bytes before this entry "
                                        "(room for a local entry the directory does not list)", info.orig_filename)
                return
            fp.seek(info.header_offset)
            header = fp.read(LOCAL_HEADER_SIZE)
            if len(header) != LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
                self._problem("LAYOUT", "no local header where the directory says the entry starts", info.orig_filename)
                return
            flags, method = struct.unpack_from("<HH", header, 6)
            name_len, extra_len = struct.unpack_from("<HH", header, 26)
            name = fp.read(name_len)
            if method != info.compress_type or (name != info.orig_filename.encode("utf-8" if flags & UTF8_FLAG else "cp437", "replace") \
                    and name.decode("utf-8", "replace") != info.orig_filename):
                self._problem("LAYOUT", "the local header disagrees with the directory (name or method)", info.orig_filename)
                return
            crc, csize, usize = struct.unpack_from("<III", header, 14)
            if not flags & 0x8 and (crc != info.CRC or (csize != 0xFFFFFFFF and csize != info.compress_size)
                                     or (usize != 0xFFFFFFFF and usize != info.file_size)):
                self._problem("LAYOUT", "the local header's CRC or sizes disagree with the directory (two readers, two files)",
                              info.orig_filename)
                return
            position = info.header_offset + LOCAL_HEADER_SIZE + name_len + extra_len + info.compress_size
            if flags & 0x8:  # a data descriptor follows the data: 32- or 64-bit sizes, with or without its signature
                nxt = self._next_offset(infos, info, offset_cd)
                fp.seek(position)
                signed = fp.read(4) == b"PK\x07\x08"
                sizes = [n for n in ((4 if signed else 0) + 12, (4 if signed else 0) + 20) if position + n == nxt]
                position += sizes[0] if sizes else (4 if signed else 0) + 12
        if position != offset_cd:
            self._problem("LAYOUT", f"{offset_cd - position} bytes between the last entry and the central directory", None)
            return
        end = location + zipfile.sizeEndCentDir + endrec[zipfile._ECD_COMMENT_SIZE]  # the end record and its comment close the file
        size = fp.seek(0, io.SEEK_END)
        if size != end:  # appended bytes no manifest, seal or scan covers (audit D10): refused as prepended ones are
            self._problem("LAYOUT", f"{size - end} bytes after the end-of-central-directory record and its comment", None)

    def raise_problems(self, case: str | None = None) -> None:
        if self.problems:
            raise EarchiveError(self.problems).with_case(case)

    def open(self, member: Member) -> BinaryIO:
        """A stream of the member's bytes; bombs and bad CRCs raise while reading."""
        return io.BufferedReader(_BoundedReader(self.zf.open(member.info), member.size, member.path), 1 << 20)

    def read_small(self, member: Member, limit: int = 64 * 1024**2) -> bytes:
        if member.size > limit:
            raise reject(f"{self._prefix}-LIMIT", f"{member.size} bytes, limit {limit} for this kind of file", file=member.path)
        with self.open(member) as f:
            return f.read()

    def stored_window(self, member: Member) -> BinaryIO | None:
        """A seekable view of a STORED member straight from the zip file, or None.

        pypdf reads a PDF from its end; zipfile on 3.11 can only seek forward by
        reading, which on a multi-GB member means reading it twice. A stored
        member is a plain byte range of the zip file, so we hand out that range.
        """
        info = member.info
        if info.compress_type != zipfile.ZIP_STORED or not (isinstance(self.path, str) or self._reopen):
            return None
        fp = open(self.path, "rb") if isinstance(self.path, str) else self._reopen()  # type: ignore[misc]
        fp.seek(info.header_offset)
        header = fp.read(LOCAL_HEADER_SIZE)
        if len(header) != LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
            fp.close()
            return None
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        start = info.header_offset + LOCAL_HEADER_SIZE + name_len + extra_len
        return RangeFile(fp, start, info.file_size)

    def iter_members(self) -> Iterator[Member]:
        return iter(self.members.values())

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SeekableReader(io.RawIOBase):
    """Read-only, seekable raw I/O over something of known ``_length``; subclasses provide readinto."""

    _length: int
    _pos: int = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos


class RangeFile(SeekableReader):
    """A read-only, seekable window [start, start+length) of an open file."""

    def __init__(self, fp: BinaryIO, start: int, length: int):
        self._fp, self._start, self._length, self._pos = fp, start, length, 0

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), self._length - self._pos)
        if n <= 0:
            return 0
        self._fp.seek(self._start + self._pos)
        data = self._fp.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._fp.close()
        super().close()


def relative_name_from_disk(rel: PurePosixPath) -> str | None:
    """Decode a path found on disk (names may be GBK bytes from an old unzip)."""
    import os

    parts = []
    for part in rel.parts:
        raw = os.fsencode(part)
        decoded = decode_raw_name(raw)
        if decoded is None:
            return None
        parts.append(decoded)
    return safe_relative_path("/".join(parts))
