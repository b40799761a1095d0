"""S3 as the pipeline uses it: a seekable reader over ranged GETs, streamed download/upload, locked copies.

Lambda's /tmp is the package's size at most (issue: no step needs more), so a
bundle is never downloaded: zipfile reads its central directory and then each
member through :class:`S3ReadFile`, one open-ended ranged GET per member.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ..crypto.digests import StreamDigest
from .s3_files import STREAM_PART_SIZE, S3PartWriter, S3ReadFile, warm

CHUNK = 8 * 1024 * 1024
COPY_PART_LIMIT = 5 * 1024**3  # CopyObject copies up to 5 GB; larger packages are copied in parts
COPY_PART_SIZE = 512 * 1024**2
LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")  # S3 Object Lock's two modes; template.yaml LockMode picks one per stack
log = logging.getLogger(__name__)


def download(s3, bucket: str, key: str, target: Path, version_id: str | None = None) -> tuple[int, dict[str, str]]:
    """Stream an object to ``target``; returns (bytes, {"SM3", "SHA-256"}) computed on the way."""
    ref = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    with warm(bucket, key):
        body = s3.get_object(**ref)["Body"]
    with StreamDigest() as md, open(target, "wb") as f:
        for chunk in body.iter_chunks(CHUNK):
            f.write(chunk)
            md.update(chunk)
    return md.size, md.hexdigests()


def upload(s3, path: Path, bucket: str, key: str, **extra: Any) -> dict:
    """Upload a file (multipart when large) with an S3 SHA-256 checksum; returns the head of the result."""
    args = {"ChecksumAlgorithm": "SHA256", **extra}
    s3.upload_file(str(path), bucket, key, ExtraArgs=args, Config=TransferConfig(multipart_threshold=64 * 1024**2,
                                                                               multipart_chunksize=64 * 1024**2))
    return s3.head_object(Bucket=bucket, Key=key)


class Objects:
    """Every S3 call of the states and the transfer client, over one client made once per container."""

    def __init__(self, client: Any, lock_mode: str = "COMPLIANCE"):
        if lock_mode not in LOCK_MODES:
            raise ValueError(f"Object Lock mode {lock_mode!r} is neither COMPLIANCE nor GOVERNANCE (EARCHIVE_LOCK_MODE)")
        self.client = client
        self.lock_mode = lock_mode  # the stack's LockMode: GOVERNANCE only in a trial stack (issue 22, F18)

    def reader(self, bucket: str, key: str, version_id: str | None = None) -> S3ReadFile:
        return S3ReadFile(self.client, bucket, key, version_id)

    def download(self, bucket: str, key: str, target: Path, version_id: str | None = None) -> tuple[int, dict[str, str]]:
        return download(self.client, bucket, key, target, version_id)

    def upload(self, path: Path, bucket: str, key: str, **extra: Any) -> dict:
        return upload(self.client, path, bucket, key, **extra)

    def put(self, bucket: str, key: str, body: bytes, content_type: str | None = None, **extra: Any) -> None:
        """Write a small object (a report, a list, a signature)."""
        self.client.put_object(Bucket=bucket, Key=key, Body=body, **({"ContentType": content_type} if content_type else {}), **extra)

    def put_stream(self, bucket: str, key: str, body: BinaryIO, *, content_type: str, metadata: dict[str, str] | None = None) -> str | None:
        """Write a seekable stream as one object (the console's assembled bundle); returns the version S3 gave it."""
        args = {"ContentType": content_type, "Metadata": metadata or {}}
        big = body.seekable() and body.seek(0, 2) > 4 * 1024**3
        if body.seekable():
            body.seek(0)
        if big or not body.seekable():  # a zip member being read out, or beyond one PUT's 5 GB: a managed (multipart) upload
            self.client.upload_fileobj(body, bucket, key, ExtraArgs=args)
            return None
        return self.client.put_object(Bucket=bucket, Key=key, Body=body, **args).get("VersionId")

    def upload_file(self, path: str, bucket: str, key: str, progress: Any = None) -> str | None:
        """Upload a file as a platform would; ``progress(bytes)`` as it goes; returns the version S3 gave *this* upload.

        One PUT up to 5 GB (its response names the version: no read-back, which an uploader may not be
        allowed, and no race with another upload to the key); multipart beyond, whose completion names it.
        """
        size = Path(path).stat().st_size
        if size <= 5 * 1024**3:
            with open(path, "rb") as f:
                return self.client.put_object(Bucket=bucket, Key=key, Body=_Counting(f, progress),
                                              ContentLength=size).get("VersionId")
        upload = self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        parts, part = [], 64 * 1024**2
        with open(path, "rb") as f:
            for n, chunk in enumerate(iter(lambda: f.read(part), b""), 1):
                etag = self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=chunk)["ETag"]
                parts.append({"PartNumber": n, "ETag": etag})
                if progress:
                    progress(len(chunk))
        return self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                                     MultipartUpload={"Parts": parts}).get("VersionId")

    def put_locked(self, bucket: str, key: str, body: bytes, until: Any) -> str:
        """A small object locked (in the stack's mode) until ``until`` (a new version, never an overwrite); returns its version."""
        return self.client.put_object(Bucket=bucket, Key=key, Body=body, ObjectLockMode=self.lock_mode, ObjectLockRetainUntilDate=until,
                                      ChecksumAlgorithm="SHA256", ContentType="application/json")["VersionId"]

    def presign_put(self, bucket: str, key: str, size: int, content_type: str, expires: int = 900) -> dict[str, Any]:
        """A URL a browser PUTs exactly ``size`` bytes to (Content-Length is signed: S3 refuses any other length)."""
        url = self.client.generate_presigned_url("put_object", ExpiresIn=expires, HttpMethod="PUT", Params={
            "Bucket": bucket, "Key": key, "ContentLength": size, "ContentType": content_type})
        return {"url": url, "method": "PUT", "headers": {"Content-Type": content_type}, "expires_in": expires}

    def presign_get(self, bucket: str, key: str, version_id: str | None = None, *, filename: str | None = None,
                    content_type: str | None = None, inline: bool = True, expires: int = 300) -> str:
        """A short-lived URL to read one object version (a material's preview or download)."""
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        if filename:
            params["ResponseContentDisposition"] = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(filename)}"
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def size(self, bucket: str, key: str) -> int | None:
        """An object's length, or None when there is none."""
        try:
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def versions_newest_first(self, bucket: str, key: str) -> list[str]:
        """The version ids of exactly ``key``, newest first (S3 lists versions in upload order)."""
        out = []
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            out += [v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key]
        return out

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys under ``prefix`` (each once, whatever its versions)."""
        out: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out |= {o["Key"] for o in page.get("Contents", [])}
        return sorted(out)

    def all_versions(self, bucket: str, prefix: str) -> list[bytes]:
        """The bodies of every version of every object under ``prefix`` (what a lock kept, whatever was written after)."""
        out = []
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for v in page.get("Versions", []):
                out.append(self.client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read())
        return out

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """A small object's bytes, or None when there is no such key."""
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def resolve_key(self, bucket: str, key: str, version_id: str | None = None) -> str:
        """The key an event names, as stored: S3 URL-encodes keys in some event payloads ('red flower.jpg' → 'red+flower.jpg').

        The key as given wins when it exists; otherwise its URL-decoded form when that exists. Whether
        EventBridge's 'Object Created' events encode keys is not settled in AWS's documents, so both work.
        """
        from urllib.parse import unquote_plus

        decoded = unquote_plus(key)
        if decoded == key:
            return key
        for candidate in (key, decoded):
            try:
                self.head(bucket, candidate, version_id)
                return candidate
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound", "NoSuchVersion", "400"):
                    raise
        return key

    def head(self, bucket: str, key: str, version_id: str | None = None, *, checksum: bool = False) -> dict[str, Any]:
        ref = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        return self.client.head_object(**ref, **({"ChecksumMode": "ENABLED"} if checksum else {}))

    def copy_version(self, src: dict[str, str], bucket: str, key: str, size: int | None = None) -> str:
        """Server-side copy of one object version (in parts above 5 GB); returns the new version id ('' if unversioned).

        With the ``size`` the caller knows (the catalogue's), the copy is one request: no HeadObject
        before it, and the version comes from the copy's own response.
        """
        with warm(src["bucket"], src["key"]):
            return self._copy({"Bucket": src["bucket"], "Key": src["key"], "VersionId": src["version_id"]}, bucket, key, {}, size)

    def copy_locked(self, src_bucket: str, src_key: str, bucket: str, key: str, extra: dict[str, Any]) -> str:
        """Server-side copy (multipart above 5 GB) with Object Lock settings; returns the version id of *this* copy.

        The version comes from the copy's own response, never from "the latest" (a concurrent
        writer's version could be recorded otherwise, review F16). moto refuses lock headers on
        CopyObject into a bucket with Object Lock (it wants an SDK checksum header CopyObject does not
        send); only then is the package streamed through instead, in parts of any size, with the same
        lock settings (packages of every size are locked locally too, review P2).
        """
        src = {"Bucket": src_bucket, "Key": src_key}
        with warm(src_bucket, src_key):
            try:
                return self._copy(src, bucket, key, {**extra, "MetadataDirective": "REPLACE"})
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "MissingUploadObjectWithObjectLockHeaders":
                    raise
            return self._stream(src, bucket, key, extra)

    def _stream(self, src: dict[str, str], bucket: str, key: str, args: dict[str, Any]) -> str:
        """Copy through this process: one PutObject, or a multipart upload of 64 MiB parts; returns the new version id."""
        body = self.client.get_object(**src)["Body"]
        size = self.client.head_object(**src)["ContentLength"]
        if size <= STREAM_PART_SIZE:
            return self.client.put_object(Bucket=bucket, Key=key, Body=body.read(), **args)["VersionId"]
        checksum = args.get("ChecksumAlgorithm", "SHA256")
        return self._multipart(bucket, key, args, (
            lambda upload_id, n, chunk=chunk: self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=chunk,
                                                                      ChecksumAlgorithm=checksum)
            for chunk in body.iter_chunks(STREAM_PART_SIZE)))

    def _copy(self, src: dict[str, str], bucket: str, key: str, args: dict[str, Any], size: int | None = None) -> str:
        size = size or self.client.head_object(**src)["ContentLength"]
        if size <= COPY_PART_LIMIT:
            return self.client.copy_object(CopySource=src, Bucket=bucket, Key=key, **args).get("VersionId", "")
        args = {k: v for k, v in args.items() if k != "MetadataDirective"}
        return self._multipart(bucket, key, args, (
            lambda upload_id, n, start=start: self.client.upload_part_copy(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, CopySource=src,
                CopySourceRange=f"bytes={start}-{min(start + COPY_PART_SIZE, size) - 1}")["CopyPartResult"]
            for start in range(0, size, COPY_PART_SIZE)))

    def _multipart(self, bucket: str, key: str, args: dict[str, Any], parts: Iterator[Callable[[str, int], dict[str, Any]]]) -> str:
        """One multipart upload: each of ``parts`` sends part n of ``upload_id``; aborted on any failure; returns the version id."""
        upload_id = self.client.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
        try:
            done = []
            for n, send in enumerate(parts, 1):
                out = send(upload_id, n)
                done.append({"PartNumber": n, "ETag": out["ETag"], **({"ChecksumSHA256": out["ChecksumSHA256"]} if "ChecksumSHA256" in out else {})})
            return self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                         MultipartUpload={"Parts": done}).get("VersionId", "")
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception as exc:  # noqa: BLE001 - the first error is the one to report; the lifecycle rule removes the parts
                log.warning("could not abort the multipart upload of s3://%s/%s: %s", bucket, key, exc)
            raise

    def ensure_lock(self, bucket: str, key: str, version_id: str, until: Any, legal_hold: bool) -> dict[str, Any]:
        """Read back the lock of one version and set it where it is missing or shorter (extending is allowed).

        Returns the head after; raises when the lock still is not in the stack's mode until ``until`` (review P2).
        A COMPLIANCE lock also satisfies a GOVERNANCE stack: it is the stronger one, and nobody can weaken it.
        """
        modes = ("COMPLIANCE",) if self.lock_mode == "COMPLIANCE" else LOCK_MODES
        for attempt in range(2):
            head = self.client.head_object(Bucket=bucket, Key=key, VersionId=version_id)
            mode, retain = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
            hold_ok = not legal_hold or head.get("ObjectLockLegalHoldStatus") == "ON"
            long_enough = retain is not None and retain >= until - dt.timedelta(seconds=1)  # S3 rounds to its own precision
            if mode in modes and long_enough and hold_ok:
                return head
            if attempt:
                break
            if not (mode in modes and long_enough):
                self.client.put_object_retention(Bucket=bucket, Key=key, VersionId=version_id,
                                                 Retention={"Mode": mode if mode in modes else self.lock_mode, "RetainUntilDate": until})
            if not hold_ok:
                self.client.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version_id, LegalHold={"Status": "ON"})
        raise RuntimeError(f"s3://{bucket}/{key} version {version_id} is not locked as asked: mode {mode}, until {retain}, "
                           f"legal hold {head.get('ObjectLockLegalHoldStatus')} (wanted {self.lock_mode} until {until}, hold {legal_hold})")

    def part_writer(self, bucket: str, key: str, part_size: int | None = None) -> S3PartWriter:
        return S3PartWriter(self.client, bucket, key, part_size)

    def append_copy(self, bucket: str, src_key: str, key: str, keep: int, tail: bytes, etag: str | None = None) -> int:
        """``key`` := the first ``keep`` bytes of ``src_key`` (copied server-side, in parts) + ``tail``; returns the size.

        How Seal appends to a package in S3 without reading it (ADR 0015). Every part but the last
        must be at least 5 MiB, so a short remainder is folded into the part before it.
        """
        minimum = 5 * 1024**2
        if keep < minimum:
            raise ValueError(f"append_copy keeps {keep} bytes; below {minimum} the package is small enough to download")
        starts = list(range(0, keep, COPY_PART_SIZE))
        if len(starts) > 1 and keep - starts[-1] < minimum:
            starts.pop()
        bounds = [(a, (starts[i + 1] if i + 1 < len(starts) else keep) - 1) for i, a in enumerate(starts)]
        src = {"Bucket": bucket, "Key": src_key}
        same = {"CopySourceIfMatch": etag} if etag else {}  # the bytes the seal was made for, not a later write
        sends: list[Callable[[str, int], dict[str, Any]]] = [
            lambda upload_id, n, a=a, b=b: self.client.upload_part_copy(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, CopySource=src, CopySourceRange=f"bytes={a}-{b}",
                **same)["CopyPartResult"]
            for a, b in bounds]
        sends.append(lambda upload_id, n: self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=tail))
        with warm(bucket, src_key):
            self._multipart(bucket, key, {}, iter(sends))
        return keep + len(tail)

    def digests(self, bucket: str, key: str, version_id: str | None = None, *, etag: str | None = None) -> tuple[int, dict[str, str]]:
        """Size, SHA-256 and SM3 of one stored version, read back whole (S3's own checksum of a multipart copy is not the object's)."""
        ref = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {}), **({"IfMatch": etag} if etag else {})}
        with StreamDigest() as md:
            for chunk in self.client.get_object(**ref)["Body"].iter_chunks(CHUNK):
                md.update(chunk)
        return md.size, md.hexdigests()

    def has_versions(self, bucket: str, key: str) -> bool:
        """Whether ``key`` has any version at all, by one HEAD instead of a listing.

        A key with no version answers 404 without ``x-amz-delete-marker``. A delete marker on top, or
        a 403 (no ListBucket to tell missing from forbidden), means: look at the versions. On AWS a
        HEAD is a GET-class request, ten times cheaper than a LIST; on the local cloud a listing
        copies every object of the bucket (moto), which made each Store slower than the last.
        """
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata", {})
            return not (meta.get("HTTPStatusCode") == 404 and meta.get("HTTPHeaders", {}).get("x-amz-delete-marker") != "true")

    def version_with(self, bucket: str, key: str, metadata: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        """The (version id, metadata) of a version of ``key`` whose metadata holds all of ``metadata``, if any."""
        try:
            versions = self.client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
        except ClientError:
            return None
        for v in versions:
            if v["Key"] != key:
                continue
            meta = self.client.head_object(Bucket=bucket, Key=key, VersionId=v["VersionId"]).get("Metadata", {})
            if all(meta.get(k) == value for k, value in metadata.items()):
                return v["VersionId"], meta
        return None

    def delete_quietly(self, bucket: str, keys: list[str]) -> None:
        """Remove staging objects in one request; a failure is logged, never raised (they are only copies)."""
        keys = [k for k in dict.fromkeys(keys) if k]
        if not keys:
            return
        try:
            out = self.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        except ClientError as exc:
            log.warning("could not delete staging objects %s: %s", keys, exc)
            return
        for error in out.get("Errors", []):
            log.warning("could not delete staging object %s: %s", error.get("Key"), error.get("Message"))

    def tag_quietly(self, bucket: str, key: str, version_id: str | None, tags: dict[str, str]) -> None:
        """Tag an object (the upload: archived or rejected); a failure is logged, never raised."""
        ref = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            self.client.put_object_tagging(**ref, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        except ClientError as exc:
            log.warning("could not tag %s: %s", key, exc)


class _Counting(io.RawIOBase):
    """A file whose reads report their bytes to ``progress`` (a PUT's body, for a progress line)."""

    def __init__(self, f: BinaryIO, progress: Any):
        self._f, self._progress = f, progress

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data and self._progress:
            self._progress(len(data))
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True
