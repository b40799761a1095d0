"""The archive pipeline's steps, one function per state of ``statemachine/archive.asl.json``.

collect → organise → pack → seal → check → register → store, and reject.
Each step takes the state (small JSON: references, never content), does its
work against S3 and DynamoDB, and returns the next state. The Lambda
handlers in ``functions/`` only wrap these with Powertools; tests call them
with moto directly or through the real state machine.

Idempotency: a claim item per upload version makes a second delivery of the
same upload end as ``DuplicateDelivery``; every catalogue move is conditional;
re-running any step after a crash redoes its work from its inputs, which
stay where they were until the package is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .check import CheckOptions, check_package
from .collect import collect
from .errors import EarchiveError, Problem
from .eventlog import EventLog
from .organise import organise, serial_prefix
from .package import seal_package, write_package
from .pki import load_trust_anchors
from .register import Catalogue, ConflictError, FileMap, retention_for
from .report import to_html, to_json
from .s3io import S3ReadFile, download, upload
from .seal import make_signer, make_tsa
from .virus import make_scanner

log = logging.getLogger(__name__)
ACTOR = "earchive-pipeline"
TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                   "SlowDown", "ServiceUnavailable", "InternalError", "InternalServerError", "TransactionConflictException",
                   "RequestTimeout", "503", "500"}


class TransientError(Exception):
    """Worth retrying (throttling, a network blip); the state machine retries it with back-off."""


class BundleRejected(Exception):
    """The upload breaks a rule; the message is JSON the reject step turns into a report."""


class DuplicateDelivery(Exception):
    """This upload version is being, or has been, handled by another execution."""


@dataclass
class Settings:
    """Names and options from the Lambda environment (set by template.yaml)."""

    intake_bucket: str = ""
    staging_bucket: str = ""
    archive_bucket: str = ""
    reports_bucket: str = ""
    catalogue_table: str = ""
    filemap_table: str = ""
    eventlog_table: str = ""
    signer: str | None = None
    tsa: str | None = None
    scanner: str | None = None
    trust: str | None = None
    allowed_formats: tuple[str, ...] = ()
    work_dir: str = field(default_factory=tempfile.gettempdir)

    @classmethod
    def from_env(cls) -> Settings:
        e = os.environ.get
        # Production: the seal key's certificate chain and the trust anchors live in SSM parameters.
        if e("EARCHIVE_SIGNER_CERT_PARAMETER") and not e("EARCHIVE_SIGNER_CERT"):
            os.environ["EARCHIVE_SIGNER_CERT"] = str(_ssm_to_file(e("EARCHIVE_SIGNER_CERT_PARAMETER", "")))
        if e("EARCHIVE_TRUST_PARAMETER") and not e("EARCHIVE_TRUST"):
            os.environ["EARCHIVE_TRUST"] = str(_ssm_to_file(e("EARCHIVE_TRUST_PARAMETER", "")))
        formats = tuple(f for f in (e("ALLOWED_FORMATS") or "").split(",") if f)
        return cls(e("INTAKE_BUCKET", ""), e("STAGING_BUCKET", ""), e("ARCHIVE_BUCKET", ""), e("REPORTS_BUCKET", ""),
                   e("CATALOGUE_TABLE", ""), e("FILEMAP_TABLE", ""), e("EVENTLOG_TABLE", ""), e("EARCHIVE_SIGNER"),
                   e("EARCHIVE_TSA"), e("EARCHIVE_SCANNER"), e("EARCHIVE_TRUST"), formats)


def _ssm_to_file(name: str) -> Path:
    """Write an SSM parameter (a PEM bundle) to /tmp once per container."""
    import boto3

    target = Path(tempfile.gettempdir()) / f"ssm-{hashlib.sha256(name.encode()).hexdigest()[:12]}.pem"
    if not target.exists():
        value = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        target.write_text(value, "utf-8")
    return target


class Aws:
    """boto3 clients for one step (created per call so tests and threads never share state)."""

    def __init__(self, settings: Settings):
        import boto3

        self.s3 = boto3.client("s3")
        ddb = boto3.resource("dynamodb")
        self.catalogue = Catalogue(ddb.Table(settings.catalogue_table))
        self.filemap = FileMap(ddb.Table(settings.filemap_table))
        self.events = EventLog(ddb.Table(settings.eventlog_table))
        self._sfn = None

    @property
    def sfn(self):
        import boto3

        self._sfn = self._sfn or boto3.client("stepfunctions")
        return self._sfn


def transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") in TRANSIENT_CODES
    return isinstance(exc, BotoCoreError)


def stream_id(upload: dict[str, Any]) -> str:
    return "upload#" + hashlib.sha256(f"{upload['bucket']}/{upload['key']}#{upload.get('version') or ''}".encode()).hexdigest()[:24]


def upload_from_event(event: dict[str, Any]) -> dict[str, Any]:
    """The upload an EventBridge 'Object Created' event (or a re-run's state) refers to."""
    if "upload" in event:
        return event["upload"]
    detail = event.get("detail", {})
    obj = detail.get("object", {})
    return {"bucket": detail.get("bucket", {}).get("name"), "key": obj.get("key"), "version": obj.get("version-id"),
            "size": obj.get("size"), "etag": obj.get("etag")}


def _rejected(stage: str, problems: list[Problem]) -> BundleRejected:
    return BundleRejected(json.dumps({"stage": stage, "problems": [p.as_dict() for p in problems]}, ensure_ascii=False))


def _open_bundle(aws: Aws, upload: dict[str, Any]):
    reader = S3ReadFile(aws.s3, upload["bucket"], upload["key"], upload.get("version"))
    try:
        return collect(reader, label=f"s3://{upload['bucket']}/{upload['key']}")
    except EarchiveError as exc:
        reader.close()
        raise _rejected("collect", exc.problems) from None


# -- collect (收集) -------------------------------------------------------------------------------

def collect_step(event: dict[str, Any], settings: Settings, execution: str = "") -> dict[str, Any]:
    """Claim the upload (once per version), read and validate the bundle."""
    aws = Aws(settings)
    up = upload_from_event(event)
    if not up.get("bucket") or not up.get("key"):
        raise ValueError(f"event names no S3 object: {json.dumps(event)[:200]}")
    stream = stream_id(up)
    _claim(aws, up, stream, execution)
    aws.events.append(stream, actor=ACTOR, action="collect", result="started", detail={"upload": up, "execution": execution})
    record, bundle = _open_bundle(aws, up)
    bundle.close()
    case = record.case
    out_of_scope = scope_problems(case, os.environ.get("EARCHIVE_REGION_CODE", ""), os.environ.get("EARCHIVE_FONDS", ""))
    if out_of_scope:
        raise _rejected("collect", out_of_scope)
    summary = {
        "project_id": record.project_id, "task_code": case["task_code"], "task_name": case["task_name"],
        "task_type": case["task_type"], "region_code": case["region_code"], "fonds_identifier": case["fonds_identifier"],
        "retention_period": case["retention_period"], "files": len(record.materials),
        "bytes": sum(m.declared_size for m in record.materials), "ignored": record.ignored,
    }
    aws.events.append(stream, actor=ACTOR, action="collect", result="ok", detail=summary)
    return {"upload": up, "stream": stream, "execution": execution, "case": summary}


def scope_problems(case: dict[str, Any], region: str, fonds: str) -> list[Problem]:
    """A deployment archives the cases of its own region (and fonds, when configured)."""
    problems = []
    prefix = region.rstrip("0") if region else ""
    prefix = prefix + "0" * (len(prefix) % 2)  # 430000 → 43, 430100 → 4301, 431000 → 4310
    if prefix and not case["region_code"].startswith(prefix):
        problems.append(Problem("CASE-OUT-OF-SCOPE", f"行政区划编码 {case['region_code']} is outside this archive's region {region}",
                                case["project_id"], "case.json"))
    allowed = [f for f in fonds.split(",") if f]
    if allowed and case["fonds_identifier"] not in allowed:
        problems.append(Problem("CASE-OUT-OF-SCOPE", f"全宗号 {case['fonds_identifier']} is not kept here ({', '.join(allowed)})",
                                case["project_id"], "case.json"))
    return problems


def _claim_key(up: dict[str, Any]) -> str:
    return f"claim#{up['bucket']}/{up['key']}#{up.get('version') or ''}"


def _finish_claim(aws: Aws, up: dict[str, Any], outcome: str) -> None:
    """A finished upload is never taken over again, whatever its execution's status."""
    aws.catalogue.table.update_item(Key={"package_id": _claim_key(up)}, UpdateExpression="SET #st = :d, outcome = :o",
                                    ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":d": "DONE", ":o": outcome})


def _claim(aws: Aws, up: dict[str, Any], stream: str, execution: str) -> None:
    key = _claim_key(up)
    item = {"package_id": key, "execution": execution, "stream": stream, "status": "CLAIMED",
            "claimed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    try:
        aws.catalogue.put_new(item)
        return
    except ConflictError:
        pass
    current = aws.catalogue.get(key) or {}
    if current.get("status") == "DONE":
        raise DuplicateDelivery(f"s3://{up['bucket']}/{up['key']} version {up.get('version')} was {current.get('outcome', 'handled')} already")
    if current.get("execution") == execution:
        return  # our own retry
    previous = current.get("execution", "")
    status = "UNKNOWN"
    if previous:
        try:
            status = aws.sfn.describe_execution(executionArn=previous)["status"]
        except ClientError:
            status = "UNKNOWN"
    if status in ("FAILED", "ABORTED", "TIMED_OUT"):  # a crashed run: take over and finish the job
        aws.catalogue.table.update_item(
            Key={"package_id": key}, UpdateExpression="SET execution = :e", ConditionExpression="execution = :p",
            ExpressionAttributeValues={":e": execution, ":p": previous})
        return
    raise DuplicateDelivery(f"s3://{up['bucket']}/{up['key']} version {up.get('version')} is handled by {previous} ({status})")


# -- organise (整理) ------------------------------------------------------------------------------

def organise_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Allocate the archive serial, name the package, open its catalogue item."""
    aws = Aws(settings)
    record, bundle = _open_bundle(aws, state["upload"])
    bundle.close()
    serial = record.case.get("archive_serial") or aws.catalogue.allocate_serial(serial_prefix(record.case), record.project_id)
    try:
        plan = organise(record, serial)
    except EarchiveError as exc:
        raise _rejected("organise", exc.with_case(record.project_id).problems) from None
    code = plan.record_code
    existing = aws.catalogue.get(code)
    if existing and existing.get("status") in ("ARCHIVED", "ACCEPTED") and existing.get("upload") != state["upload"]:
        raise _rejected("organise", [Problem("CASE-ALREADY-ARCHIVED", f"{code} is {existing['status']} already "
                                     f"(version {existing.get('package_version', 1)}); a correction is accepted only after the "
                                     "receiving institution returns the package", record.project_id)])
    version = int((existing or {}).get("package_version", 1))
    history: list[dict[str, Any]] = list((existing or {}).get("versions", []))
    if existing and existing.get("status") == "RETURNED":  # the corrected case: a new version, the old one kept
        aws.catalogue.table.put_item(Item={**existing, "package_id": f"{code}#v{version}", "superseded_by": version + 1})
        old_files = aws.filemap.of_package(code)
        with aws.filemap.table.batch_writer() as batch:
            for f in old_files:
                batch.put_item(Item={**f, "package_id": f"{code}#v{version}"})
        history.append({"version": version, "archive": existing.get("archive"), "returned_batch": existing.get("returned_batch"),
                        "return_reason": existing.get("return_reason")})
        version += 1
    if not existing or existing.get("status") not in ("ARCHIVED", "ACCEPTED"):
        aws.catalogue.table.put_item(Item={
            "package_id": code, "record_code": code, "project_id": record.project_id, "status": "RECEIVED",
            "upload": state["upload"], "stream": state["stream"], "execution": state.get("execution", ""),
            "task_code": record.case["task_code"], "task_name": record.case["task_name"], "task_type": record.case["task_type"],
            "region_code": record.case["region_code"], "fonds_identifier": record.case["fonds_identifier"], "year": plan.year,
            "retention_period": record.case["retention_period"], "total_number": len(plan.files),
            "total_bytes": sum(f.material.declared_size for f in plan.files), "package_version": version, "versions": history,
            "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })
    aws.events.append(state["stream"], actor=ACTOR, action="organise", result="ok", detail={"record_code": code, "serial": serial})
    return {**state, "record_code": code, "serial": serial, "year": plan.year}


# -- pack (形成信息包) ----------------------------------------------------------------------------

@contextlib.contextmanager
def workdir(settings: Settings, name: str) -> Iterator[Path]:
    """A private folder in /tmp for one step's package, removed whatever happens."""
    d = Path(tempfile.mkdtemp(prefix=f"earchive-{name}-", dir=settings.work_dir))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def pack_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Stream the bundle's materials into the (unsealed) package; keep the digests for the seal."""
    aws = Aws(settings)
    record, bundle = _open_bundle(aws, state["upload"])
    code = state["record_code"]
    with workdir(settings, "pack") as work, contextlib.closing(bundle):
        plan = organise(record, state["serial"])
        try:
            result = write_package(plan, work, sealed=False, overwrite=True)
        except EarchiveError as exc:
            raise _rejected("pack", exc.with_case(record.project_id).problems) from None
        key = f"unsealed/{code}.zip"
        upload(aws.s3, result.path, settings.staging_bucket, key)
        manifest = {"entries": result.entries, "files": result.files}
        aws.s3.put_object(Bucket=settings.staging_bucket, Key=f"unsealed/{code}.entries.json",
                          Body=json.dumps(manifest, ensure_ascii=False).encode("utf-8"), ChecksumAlgorithm="SHA256")
    aws.catalogue.move(code, "PACKED", allowed_from=("RECEIVED",), packed_bytes=result.total_bytes)
    aws.events.append(state["stream"], actor=ACTOR, action="pack", result="ok",
                      detail={"files": len(result.files), "bytes": result.total_bytes, "seconds": round(result.seconds, 3)})
    return {**state, "staging": {"unsealed": key, "entries": f"unsealed/{code}.entries.json"}}


def _staged_digests(aws: Aws, settings: Settings, state: dict[str, Any]) -> dict[str, Any]:
    """What pack measured in its single read: manifest entries and per-file digests (kept beside the package)."""
    return json.loads(aws.s3.get_object(Bucket=settings.staging_bucket, Key=state["staging"]["entries"])["Body"].read())


# -- seal (固化) -----------------------------------------------------------------------------------

def seal_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Append manifests, signature and timestamp; the sealed package goes back to staging."""
    aws = Aws(settings)
    code = state["record_code"]
    with workdir(settings, "seal") as work:
        path = work / f"{code}.zip"
        download(aws.s3, settings.staging_bucket, state["staging"]["unsealed"], path)
        entries = _staged_digests(aws, settings, state)["entries"]
        sealed = seal_package(path, [tuple(e) for e in entries], signer=make_signer(settings.signer), tsa=make_tsa(settings.tsa))
        key = f"sealed/{code}.zip"
        upload(aws.s3, path, settings.staging_bucket, key)
    aws.catalogue.move(code, "SEALED", allowed_from=("PACKED",), signer=sealed.signer, tsa=sealed.tsa)
    aws.events.append(state["stream"], actor=ACTOR, action="seal", result="ok", detail={"signer": sealed.signer, "tsa": sealed.tsa})
    return {**state, "staging": {**state["staging"], "sealed": key}}


# -- check (归档检测) -------------------------------------------------------------------------------

def check_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Run the archiving check (GD tests) on the sealed package; write the report."""
    aws = Aws(settings)
    code = state["record_code"]
    with workdir(settings, "check") as work:
        path = work / f"{code}.zip"
        size, digests = download(aws.s3, settings.staging_bucket, state["staging"]["sealed"], path)
        options = CheckOptions(stage="archiving", scanner=make_scanner(settings.scanner),
                               catalogue_reader=lambda c: aws.catalogue.get(c) is not None)
        if settings.trust:
            options.trust, options.trust_label = load_trust_anchors(settings.trust), [settings.trust]
        if settings.allowed_formats:
            options.allowed_formats = settings.allowed_formats
        report = check_package(path, options)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report_key = f"reports/{code}/{stamp}-archiving.json"
    aws.s3.put_object(Bucket=settings.reports_bucket, Key=report_key, Body=to_json(report).encode("utf-8"), ContentType="application/json")
    aws.s3.put_object(Bucket=settings.reports_bucket, Key=report_key.replace(".json", ".html"), Body=to_html(report).encode("utf-8"),
                      ContentType="text/html; charset=utf-8")
    failed = [{"id": r.id, "name": r.name, "detail": r.detail[:300], "objects": r.objects[:5]} for r in report.failures][:40]
    aws.catalogue.move(code, "CHECKED", allowed_from=("SEALED",), check_passed=report.passed, check_report=report_key,
                       package_sha256=digests["SHA-256"], package_sm3=digests["SM3"], package_size=size)
    aws.events.append(state["stream"], actor=ACTOR, action="check", result="pass" if report.passed else "fail",
                      detail={"report": report_key, "failed": [f["id"] for f in failed]})
    return {**state, "check": {"passed": report.passed, "failed": failed, "report": report_key},
            "package": {"sha256": digests["SHA-256"], "sm3": digests["SM3"], "size": size}}


# -- register (归档登记) ----------------------------------------------------------------------------

def register_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Check retention and counts against the catalogue, record the file mapping."""
    aws = Aws(settings)
    code = state["record_code"]
    item = aws.catalogue.get(code) or {}
    files = _staged_digests(aws, settings, state)["files"]
    problems = []
    if int(item.get("total_number", -1)) != len(files):
        problems.append(f"catalogue says {item.get('total_number')} files, the package holds {len(files)}")
    if int(item.get("total_bytes", -1)) != sum(f["size"] for f in files):
        problems.append(f"catalogue says {item.get('total_bytes')} bytes, the package holds {sum(f['size'] for f in files)}")
    if item.get("retention_period") not in ("Y", "D30", "D10"):
        problems.append(f"retention period {item.get('retention_period')!r} is not Y, D30 or D10")
    if problems:
        raise _rejected("register", [Problem("REGISTER-MISMATCH", p, item.get("project_id"), code) for p in problems])
    retention = retention_for(item["retention_period"], int(item["year"]), dt.datetime.now(dt.UTC))
    aws.filemap.put(code, files, state["upload"])
    aws.catalogue.move(code, "REGISTERED", allowed_from=("CHECKED",), retain_until=retention.retain_until.isoformat(),
                       legal_hold=retention.legal_hold, retention_mode=retention.mode)
    aws.events.append(state["stream"], actor=ACTOR, action="register", result="ok",
                      detail={"retain_until": retention.retain_until.isoformat(), "legal_hold": retention.legal_hold, "files": len(files)})
    return {**state, "retention": {"until": retention.retain_until.isoformat(), "legal_hold": retention.legal_hold}}


# -- store (接收入库 of the archiving stage: the archive bucket under Object Lock) --------------------

def archive_key(state: dict[str, Any]) -> str:
    c = state["case"]
    return f"packages/{c['region_code']}/{c['fonds_identifier']}/{state['year']}/{state['record_code']}.zip"


def store_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Copy the sealed package into the archive bucket under COMPLIANCE Object Lock, verify, then clean up."""
    import base64

    aws = Aws(settings)
    code, key = state["record_code"], archive_key(state)
    sha256 = state["package"]["sha256"]
    existing = _stored_version(aws, settings.archive_bucket, key, sha256)
    if existing is None:
        until = dt.datetime.fromisoformat(state["retention"]["until"])
        extra: dict[str, Any] = {
            "ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until, "ChecksumAlgorithm": "SHA256",
            "Metadata": {"earchive-sha256": sha256, "earchive-sm3": state["package"]["sm3"], "earchive-record-code": code},
            "ContentType": "application/zip",
        }
        if state["retention"]["legal_hold"]:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        version = _copy_locked(aws, settings.staging_bucket, state["staging"]["sealed"], settings.archive_bucket, key, extra)
        head = aws.s3.head_object(Bucket=settings.archive_bucket, Key=key, VersionId=version, ChecksumMode="ENABLED")
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored and base64.b64decode(stored).hex() != sha256:
            raise TransientError(f"stored copy of {code} has SHA-256 {base64.b64decode(stored).hex()}, expected {sha256}")
        if head["ContentLength"] != state["package"]["size"]:
            raise TransientError(f"stored copy of {code} is {head['ContentLength']} bytes, expected {state['package']['size']}")
    else:
        version = existing
    location = {"bucket": settings.archive_bucket, "key": key, "version_id": version}
    aws.filemap.locate(code, location)
    entry = aws.events.append(state["stream"], actor=ACTOR, action="store", result="ok", detail=location)
    aws.catalogue.move(code, "ARCHIVED", allowed_from=("REGISTERED",), archive=location,
                       archived_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       event_head={"seq": entry["seq"], "hash": entry["hash"]})
    _cleanup(aws, settings, state)
    _finish_claim(aws, state["upload"], "ARCHIVED")
    _tag_upload(aws, state["upload"], "archived", code)
    return {**state, "archive": location, "status": "ARCHIVED"}


def _copy_locked(aws: Aws, src_bucket: str, src_key: str, bucket: str, key: str, extra: dict[str, Any]) -> str:
    """Server-side copy (multipart above 5 GB) with Object Lock settings; returns the new version id.

    moto refuses CopyObject with Object Lock headers (it wants an SDK checksum
    header CopyObject does not send); only then is the package streamed through
    this function instead (multipart upload, same lock settings).
    """
    try:
        aws.s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, key, ExtraArgs={**extra, "MetadataDirective": "REPLACE"})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "MissingUploadObjectWithObjectLockHeaders":
            raise
        body = aws.s3.get_object(Bucket=src_bucket, Key=src_key)["Body"]
        aws.s3.upload_fileobj(body, bucket, key, ExtraArgs=extra)
    versions = [v for v in aws.s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key and v["IsLatest"]]
    return versions[0]["VersionId"]


def _stored_version(aws: Aws, bucket: str, key: str, sha256: str) -> str | None:
    """The version of ``key`` already holding this package (a retried store), if any."""
    try:
        versions = aws.s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    except ClientError:
        return None
    for v in versions:
        if v["Key"] != key:
            continue
        head = aws.s3.head_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
        if head.get("Metadata", {}).get("earchive-sha256") == sha256:
            return v["VersionId"]
    return None


def _cleanup(aws: Aws, settings: Settings, state: dict[str, Any]) -> None:
    for key in (state.get("staging") or {}).values():
        try:
            aws.s3.delete_object(Bucket=settings.staging_bucket, Key=key)
        except ClientError as exc:
            log.warning("could not delete staging object %s: %s", key, exc)


def _tag_upload(aws: Aws, up: dict[str, Any], status: str, code: str) -> None:
    ref = {"Bucket": up["bucket"], "Key": up["key"], **({"VersionId": up["version"]} if up.get("version") else {})}
    try:
        aws.s3.put_object_tagging(**ref, Tagging={"TagSet": [{"Key": "earchive-status", "Value": status},
                                                             {"Key": "earchive-package", "Value": code}]})
    except ClientError as exc:
        log.warning("could not tag the upload %s: %s", up["key"], exc)


# -- reject ---------------------------------------------------------------------------------------

def _reasons(state: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(stage, problems) from a caught error or from the failed check."""
    error = state.get("error")
    if error:
        cause = error.get("Cause", "")
        try:
            message = json.loads(cause).get("errorMessage", cause)
        except (json.JSONDecodeError, AttributeError):
            message = cause
        try:
            parsed = json.loads(message)
            return parsed["stage"], parsed["problems"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return "pipeline", [{"rule": error.get("Error", "ERROR"), "message": str(message)[:1000], "case": None, "file": None}]
    failed = (state.get("check") or {}).get("failed", [])
    return "check", [{"rule": f["id"], "message": f"{f['name']}: {f['detail']}", "case": state.get("case", {}).get("project_id"),
                      "file": (f.get("objects") or [None])[0]} for f in failed]


def reject_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Write the rejection report beside the upload, mark the catalogue REJECTED; the upload stays."""
    aws = Aws(settings)
    up = upload_from_event(state)
    stream = state.get("stream") or stream_id(up)
    stage, problems = _reasons(state)
    code = state.get("record_code")
    package_id = code or stream
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report = {"upload": up, "status": "REJECTED", "stage": stage, "rejected_at": now, "record_code": code,
              "project_id": (state.get("case") or {}).get("project_id") or next((p.get("case") for p in problems if p.get("case")), None),
              "problems": problems, "check_report": (state.get("check") or {}).get("report")}
    base = up["key"]
    aws.s3.put_object(Bucket=up["bucket"], Key=f"{base}.rejected.json", Body=json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"),
                      ContentType="application/json")
    aws.s3.put_object(Bucket=up["bucket"], Key=f"{base}.rejected.html", Body=_rejection_html(report).encode("utf-8"),
                      ContentType="text/html; charset=utf-8")
    item = aws.catalogue.get(package_id)
    if item and item.get("status") == "ARCHIVED":
        raise RuntimeError(f"{package_id} is ARCHIVED; refusing to mark it REJECTED")
    entry = aws.events.append(stream, actor=ACTOR, action="reject", result="rejected", detail={"stage": stage, "rules": [p.get("rule") for p in problems]})
    aws.catalogue.table.put_item(Item={
        **(item or {}), "package_id": package_id, "status": "REJECTED", "stage": stage, "upload": up, "stream": stream,
        "problems": problems[:50], "rejected_at": now, "project_id": report["project_id"] or "unknown",
        "report": f"s3://{up['bucket']}/{base}.rejected.json", **({"record_code": code} if code else {}),
        "event_head": {"seq": entry["seq"], "hash": entry["hash"]},
    })
    _cleanup(aws, settings, state)
    _finish_claim(aws, up, "REJECTED")
    _tag_upload(aws, up, "rejected", package_id)
    return {**state, "status": "REJECTED", "rejection": {"stage": stage, "problems": problems[:20], "report": f"{base}.rejected.json"}}


def _rejection_html(report: dict[str, Any]) -> str:
    import html

    rows = "".join(f"<tr><td>{html.escape(str(p.get('rule')))}</td><td>{html.escape(str(p.get('file') or ''))}</td>"
                   f"<td>{html.escape(str(p.get('message')))}</td></tr>" for p in report["problems"])
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>拒收通知 {html.escape(report["upload"]["key"])}</title>'
            '<style>body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em}table{border-collapse:collapse}'
            'td,th{border:1px solid #999;padding:.3em .5em;text-align:left}</style></head><body>'
            f'<h1>办件归档拒收通知 / Rejection</h1><p>上传文件：{html.escape(report["upload"]["key"])}<br>办件编号：{html.escape(str(report["project_id"]))}'
            f'<br>环节：{html.escape(report["stage"])}<br>时间：{report["rejected_at"]}</p>'
            f'<table><tr><th>规则</th><th>文件</th><th>原因</th></tr>{rows}</table>'
            '<p>原上传文件保留未动；请修正后重新上传。The upload was left as it was; fix and upload again.</p></body></html>')


STEPS = {
    "collect": collect_step, "organise": organise_step, "pack": pack_step, "seal": seal_step,
    "check": check_step, "register": register_step, "store": store_step, "reject": reject_step,
}
