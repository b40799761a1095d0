"""The S3 objects as files: read one by ranged GETs, write one as a multipart upload (ADR 0015).

A package too large for a function's /tmp is never downloaded: Collect, Organise and Pack read the
bundle through :class:`S3ReadFile`, Pack writes the package through :class:`S3PartWriter`, and
Check reads it back through :class:`S3ReadFile`. :func:`warm` names a read refused because the
object is in Deep Archive.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.safezip import SeekableReader
from ..errors import ColdObject, TransientError

STREAM_PART_SIZE = 64 * 1024**2
READ_ATTEMPTS = 4  # a ranged read that fails is reopened at the same byte this many times before the step is retried
RETRIED_CODES = {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "503"}
WHOLE_BELOW = 8 * 1024**2  # an object up to this size is read whole, once, and served from memory
log = logging.getLogger(__name__)


COLD_CODES = {"InvalidObjectState", "ObjectNotInActiveTierError"}  # S3's answer for an object in an archive storage class


@contextlib.contextmanager
def warm(bucket: str, key: str) -> Iterator[None]:
    """Say so, by name, when S3 refuses to read an object because it is in Deep Archive (not a system fault: restore it)."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in COLD_CODES:
            raise ColdObject(f"s3://{bucket}/{key} 在深度归档存储（Glacier Deep Archive）中，须先恢复（约 12–48 小时）才能读取或复制 / "
                             "in cold storage: restore it first (aws s3api restore-object)") from None
        raise


class S3ReadFile(SeekableReader):
    """A read-only, seekable file over one S3 object version: ranged GETs, or one GET when it is small.

    Reading a zip jumps between entries (the layout check visits every local header); below
    :data:`WHOLE_BELOW` the object is fetched once and served from memory instead of a GET per jump.
    """

    def __init__(self, s3, bucket: str, key: str, version_id: str | None = None):
        self._s3, self.bucket, self.key, self.version_id = s3, bucket, key, version_id
        head = s3.head_object(**self._ref())
        self.etag = head["ETag"]  # pinned: every range must come from these bytes (If-Match), whatever is written after
        self.size = self._length = head["ContentLength"]
        self.failure: str | None = None  # set when S3 gave up mid-read: the bytes were not all read
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1
        self._whole: bytes | None = None
        self.name = f"s3://{bucket}/{key}"

    def _ref(self) -> dict[str, str]:
        ref = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            ref["VersionId"] = self.version_id
        return ref

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._pos >= self.size:
            return 0
        want = min(len(buffer), self.size - self._pos)
        data = b""
        for attempt in range(READ_ATTEMPTS):
            try:
                while len(data) < want:  # callers (zipfile) expect the whole count, as from a file
                    data += self._read(want - len(data), self._pos + len(data))
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in RETRIED_CODES:
                    raise
                error: Exception = exc
            except (BotoCoreError, OSError) as exc:  # a dropped or timed-out stream: reopen at the same byte
                error = exc
            self._drop()
            time.sleep(0.2 * 2**attempt)
        else:
            self.failure = f"s3://{self.bucket}/{self.key} at byte {self._pos}: {type(error).__name__}: {error}"
            raise TransientError(f"reading {self.failure}")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read(self, n: int, at: int) -> bytes:
        if self.size <= WHOLE_BELOW:  # a small bundle is one GET, not one per zip entry the layout check visits
            if self._whole is None:
                with warm(self.bucket, self.key):
                    self._whole = self._s3.get_object(**self._ref(), IfMatch=self.etag)["Body"].read()
                if len(self._whole) != self.size:
                    raise OSError(f"read {len(self._whole)} bytes of {self.size}")
            return self._whole[at:at + n]
        if self._body is None or self._body_pos != at:
            self._drop()
            with warm(self.bucket, self.key):
                self._body = self._s3.get_object(**self._ref(), Range=f"bytes={at}-", IfMatch=self.etag)["Body"]
            self._body_pos = at
        data = self._body.read(n)
        if not data:
            raise OSError(f"the stream ended at byte {at} of {self.size}")
        self._body_pos += len(data)  # a short read goes on from here, on the same stream
        return data

    def _drop(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
            self._body = None
        self._whole = None

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        self._whole = None
        super().close()


class S3PartWriter(io.RawIOBase):
    """A stream that is one multipart upload: a package larger than /tmp never touches disk (ADR 0015).

    Part *n* holds bytes [(n-1)·size, n·size), and parts may be sent in any order. zipfile writes a
    member's local header, then its data, then seeks back and rewrites the header with the CRC and
    sizes. :meth:`hold_header` (called as each member starts) keeps the part(s) under that header
    in memory until the next member starts, while the parts after it go up as they fill. So the
    package has complete local headers, like one written to a file, and no data descriptors that
    streaming readers (Java's ZipInputStream) refuse for stored members. At most the held part(s)
    and the one being filled are in memory.
    """

    HEADER_SPAN = 64 * 1024  # room for a local header and its name and extra fields

    def __init__(self, client: Any, bucket: str, key: str, part_size: int | None = None):
        self._client, self.bucket, self.key = client, bucket, key
        self._part_size = max(part_size or STREAM_PART_SIZE, 5 * 1024**2)
        self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
        self._unsent: dict[int, bytearray] = {}  # part number → its bytes, not yet sent
        self._sent: dict[int, dict[str, Any]] = {}
        self._pos = self._end = 0
        self._hold: tuple[int, int] | None = None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence] + offset
        if not 0 <= target <= self._end:
            raise OSError(f"seek to {target} outside the {self._end} bytes written")
        self._pos = target
        return target

    def flush(self) -> None:
        """Nothing to do: parts go up as they fill, the last one on :meth:`complete`."""

    def hold_header(self) -> None:
        """A member starts here: keep the part(s) under its header until the next member starts."""
        self._hold = (self._pos, self._pos + self.HEADER_SPAN)
        self._send_full()

    def write(self, data) -> int:  # type: ignore[override]
        view, n = memoryview(data).cast("B"), len(data)
        at = self._pos
        while view:
            part, offset = at // self._part_size + 1, at % self._part_size
            if part in self._sent:
                raise OSError(f"byte {at} is in part {part}, sent already: only a held header can be rewritten")
            buf = self._unsent.setdefault(part, bytearray())
            if offset > len(buf):
                raise OSError(f"write at {at} leaves a gap in part {part}")
            take = min(len(view), self._part_size - offset)
            buf[offset:offset + take] = view[:take]
            view, at = view[take:], at + take
        self._pos = at
        self._end = max(self._end, at)
        self._send_full()
        return n

    def _held(self, part: int) -> bool:
        if self._hold is None:
            return False
        start, stop = (part - 1) * self._part_size, part * self._part_size
        return start < self._hold[1] and self._hold[0] < stop

    def _send_full(self) -> None:
        for part in sorted(self._unsent):
            if len(self._unsent[part]) == self._part_size and not self._held(part):
                self._send(part, self._unsent.pop(part))

    def _send(self, part: int, body: bytearray) -> None:
        out = self._client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=part, Body=bytes(body),
                                       ChecksumAlgorithm="SHA256")
        self._sent[part] = {"PartNumber": part, "ETag": out["ETag"], **({"ChecksumSHA256": out["ChecksumSHA256"]} if "ChecksumSHA256" in out else {})}
        log.info("s3://%s/%s: part %d sent, %d MiB written so far", self.bucket, self.key, part, self._end // 1024**2)

    def complete(self) -> int:
        """Send every part still held or filling and complete the upload; returns the object's size."""
        self._hold = None
        for part in sorted(self._unsent):
            self._send(part, self._unsent.pop(part))
        if not self._sent:
            self._send(1, bytearray())
        self._client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                               MultipartUpload={"Parts": [self._sent[n] for n in sorted(self._sent)]})
        return self._end

    def abort(self) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
