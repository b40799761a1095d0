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
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from ..domain.safezip import SeekableReader
from ..errors import ColdObject

STREAM_PART_SIZE = 64 * 1024**2
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
        self.size = self._length = head["ContentLength"]
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
        if self.size <= WHOLE_BELOW:  # a small bundle is one GET, not one per zip entry the layout check visits
            if self._whole is None:
                with warm(self.bucket, self.key):
                    self._whole = self._s3.get_object(**self._ref())["Body"].read()
            data = self._whole[self._pos:self._pos + len(buffer)]
            buffer[: len(data)] = data
            self._pos += len(data)
            return len(data)
        if self._body is None or self._body_pos != self._pos:
            if self._body is not None:
                self._body.close()
            with warm(self.bucket, self.key):
                self._body = self._s3.get_object(**self._ref(), Range=f"bytes={self._pos}-")["Body"]
            self._body_pos = self._pos
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        self._body_pos = self._pos
        return len(data)

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        self._whole = None
        super().close()


class S3PartWriter(io.RawIOBase):
    """A write-only stream that is one multipart upload: a package larger than /tmp never touches disk (ADR 0015).

    It cannot seek, so zipfile writes data descriptors; it tells its position, so the offsets in
    the zip are right. Parts of ``part_size`` go up as they fill, one in memory at a time; the
    upload is completed by :meth:`complete` and aborted by :meth:`abort` (or on any failure).
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int | None = None):
        self._client, self.bucket, self.key = client, bucket, key
        self._part_size = max(part_size or STREAM_PART_SIZE, 5 * 1024**2)
        self._upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")["UploadId"]
        self._buffer, self._parts, self._pos = bytearray(), [], 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def write(self, data) -> int:  # type: ignore[override]
        self._buffer += data
        self._pos += len(data)
        while len(self._buffer) >= self._part_size:
            self._send(bytes(self._buffer[:self._part_size]))
            del self._buffer[:self._part_size]
        return len(data)

    def _send(self, body: bytes) -> None:
        n = len(self._parts) + 1
        out = self._client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=n, Body=body,
                                       ChecksumAlgorithm="SHA256")
        self._parts.append({"PartNumber": n, "ETag": out["ETag"], **({"ChecksumSHA256": out["ChecksumSHA256"]} if "ChecksumSHA256" in out else {})})
        log.info("s3://%s/%s: part %d sent, %d MiB so far", self.bucket, self.key, n, self._pos // 1024**2)

    def complete(self) -> int:
        """Send the last part and complete the upload; returns the object's size."""
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        self._client.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                               MultipartUpload={"Parts": self._parts})
        return self._pos

    def abort(self) -> None:
        self._client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
