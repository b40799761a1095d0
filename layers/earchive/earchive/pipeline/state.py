"""The input and output of every state, typed (docs/pipeline.md is generated from these).

States pass small JSON documents (references, never content). From Organise
to Store each archive state returns its input with its own part added, so a
later state and the Reject state see everything before them; Collect makes the
first document from S3's event, and the transfer states return small documents
of their own. Sample documents: ``events/<machine>/<state>.json``.
"""

# No ``from __future__ import annotations`` here: TypedDict must see NotRequired[...] itself (Python 3.11).
import hashlib
from typing import Any, Literal, NotRequired, TypedDict


class Upload(TypedDict):
    """One version of one uploaded bundle in the intake bucket."""

    bucket: str
    key: str
    version: str | None
    size: NotRequired[int | None]
    etag: NotRequired[str | None]


class CaseSummary(TypedDict):
    project_id: str
    task_code: str
    task_name: str
    task_type: str
    region_code: str
    fonds_identifier: str
    retention_period: str
    files: int
    bytes: int
    ignored: list[str]


class CollectInput(TypedDict):
    """What the state machine passes to Collect: S3's EventBridge event and the execution's ARN."""

    event: dict[str, Any]
    execution: str


class Collected(TypedDict):
    upload: Upload
    stream: str  # the event-log stream of this upload
    execution: str
    case: CaseSummary


class ConfigChecked(TypedDict):
    """The 归档配置 versions a case was checked against at Organise (ADR 0017), and what they changed or noted."""

    deployment_version: int
    task_version: NotRequired[int]  # absent: the 事项 is not configured (accepted with a note)
    retention_period: NotRequired[str]  # the schedule's period, applied in place of the platform's
    notes: list[dict[str, str]]


class Organised(Collected):
    record_code: str  # 电子文件号
    serial: int
    year: int
    config: NotRequired[ConfigChecked]  # only where the deployment has a 归档配置


class Staging(TypedDict, total=False):
    unsealed: str
    entries: str  # pack's manifest entries and per-file digests
    sealed: str


class Packed(Organised):
    staging: Staging
    streamed: bool  # larger than /tmp: packed into S3, sealed and checked there (ADR 0015)


class Sealed(Packed):
    """Packed, with ``staging.sealed`` set."""


class FailedTest(TypedDict):
    id: str
    name: str
    detail: str
    objects: NotRequired[list[str]]


class CheckOutcome(TypedDict, total=False):
    passed: bool
    failed: list[FailedTest]
    report: str
    manual: list[str]  # tests left to a person (never a pass: domain.wording)


class PackageDigest(TypedDict):
    sha256: str
    sm3: str
    size: int


class Checked(Sealed):
    check: CheckOutcome
    package: PackageDigest


class RetentionSet(TypedDict):
    until: str
    legal_hold: bool


class Registered(Checked):
    retention: RetentionSet


class Location(TypedDict):
    bucket: str
    key: str
    version_id: str


class Stored(Registered):
    archive: Location
    status: Literal["ARCHIVED"]


class CaughtError(TypedDict):
    Error: str
    Cause: str


class RejectInput(TypedDict, total=False):
    """Whatever state failed, plus the caught error (or a failed check), or S3's event when Collect rejected."""

    upload: Upload
    detail: dict[str, Any]
    stream: str
    record_code: str
    case: CaseSummary
    check: CheckOutcome
    staging: Staging
    error: CaughtError


class Rejection(TypedDict):
    stage: str
    problems: list[dict[str, Any]]
    report: str


class Rejected(RejectInput):
    status: Literal["REJECTED", "FAILED"]
    rejection: Rejection


# -- the transfer machine

class BatchRef(TypedDict):
    batch_id: str
    actor: NotRequired[str]
    execution: NotRequired[str]  # the attempt: a batch cancelled back to DRAFT and sent again runs anew


class ItemsRef(TypedDict):
    bucket: str
    key: str


class ResultsRef(TypedDict):
    bucket: str
    prefix: str


class Submitted(TypedDict):
    batch_id: str
    count: int
    items: ItemsRef  # the Distributed Map reads its items from here
    results: ResultsRef  # and writes its children's results here (ResultWriter): the state keeps none of them (256 KiB)


class BatchItem(TypedDict):
    batch_id: str
    package_id: str
    attempt: NotRequired[str]


class ReceiveChecked(BatchItem):
    passed: bool


class AwaitInput(TypedDict):
    batch_id: str
    token: str  # the task token the institution's decision resumes


class Waiting(TypedDict):
    batch_id: str
    waiting: bool


class Decision(TypedDict, total=False):
    batch_id: str
    receiver: str
    returns: dict[str, str]  # package_id → reasons
    reply: dict[str, str]  # {"key", "reply_id", "pdf"}: the institution's signed reply the window verified (its receipt) and signed list


class Decided(TypedDict):
    batch_id: str
    status: str
    accepted: int
    returned: int
    withdrawn: int  # never copied and checked: out of the batch, still ARCHIVED, sent again in the next batch


class ReplyArrived(TypedDict, total=False):
    """The EventBridge 'Object Created' event of an institution's reply, and the state's retry count."""

    detail: dict[str, Any]  # {"bucket": {"name"}, "object": {"key", "version-id"}}
    attempt: int
    execution: str


class Verdict(TypedDict, total=False):
    """What became of one reply: taken (the batch resumes), refused (``<reply>.refused.json`` says why) or ignored."""

    key: str
    outcome: str
    batch_id: str
    reply_id: str
    returned: int
    problems: list[str]
    why: str


def stream_id(upload: Upload) -> str:
    """The event-log stream of one upload version."""
    return "upload#" + hashlib.sha256(f"{upload['bucket']}/{upload['key']}#{upload.get('version') or ''}".encode()).hexdigest()[:24]


def upload_from_event(event: dict[str, Any]) -> Upload:
    """The upload an EventBridge 'Object Created' event (or a re-run's state) refers to."""
    if "upload" in event:
        return event["upload"]
    detail = event.get("detail", {})
    obj = detail.get("object", {})
    return {"bucket": detail.get("bucket", {}).get("name"), "key": obj.get("key"), "version": obj.get("version-id"),
            "size": obj.get("size"), "etag": obj.get("etag")}
