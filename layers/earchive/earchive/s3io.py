"""S3 as files: a seekable reader over ranged GETs, and streamed download/upload.

Lambda's /tmp is the package's size at most (issue: no step needs more), so a
bundle is never downloaded: zipfile reads its central directory and then each
member through :class:`S3ReadFile`, one open-ended ranged GET per member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .digests import MultiDigest
from .safezip import SeekableReader

CHUNK = 8 * 1024 * 1024


class S3ReadFile(SeekableReader):
    """A read-only, seekable file over one S3 object version."""

    def __init__(self, s3, bucket: str, key: str, version_id: str | None = None):
        self._s3, self.bucket, self.key, self.version_id = s3, bucket, key, version_id
        head = s3.head_object(**self._ref())
        self.size = self._length = head["ContentLength"]
        self._pos = 0
        self._body: Any = None
        self._body_pos = -1
        self.name = f"s3://{bucket}/{key}"

    def _ref(self) -> dict[str, str]:
        ref = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            ref["VersionId"] = self.version_id
        return ref

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._pos >= self.size:
            return 0
        if self._body is None or self._body_pos != self._pos:
            if self._body is not None:
                self._body.close()
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
        super().close()


def download(s3, bucket: str, key: str, target: Path, version_id: str | None = None) -> tuple[int, dict[str, str]]:
    """Stream an object to ``target``; returns (bytes, {"SM3", "SHA-256"}) computed on the way."""
    ref = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    body = s3.get_object(**ref)["Body"]
    md = MultiDigest()
    with open(target, "wb") as f:
        for chunk in body.iter_chunks(CHUNK):
            f.write(chunk)
            md.update(chunk)
    return md.size, md.hexdigests()


def upload(s3, path: Path, bucket: str, key: str, **extra: Any) -> dict:
    """Upload a file (multipart when large) with an S3 SHA-256 checksum; returns the head of the result."""
    from boto3.s3.transfer import TransferConfig

    args = {"ChecksumAlgorithm": "SHA256", **extra}
    s3.upload_file(str(path), bucket, key, ExtraArgs=args, Config=TransferConfig(multipart_threshold=64 * 1024**2,
                                                                               multipart_chunksize=64 * 1024**2))
    return s3.head_object(Bucket=bucket, Key=key)
