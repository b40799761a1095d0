"""What several archive states share: reading the bundle, turning problems into a rejection, finishing an upload."""

from __future__ import annotations

import json
from typing import Any

from ...domain.collect import CaseRecord, collect
from ...errors import BundleRejected, EarchiveError, Problem
from ..runtime import Runtime
from ..state import Upload

ACTOR = "earchive-pipeline"


def rejected(stage: str, problems: list[Problem]) -> BundleRejected:
    """The error the ASL catches into Reject: JSON naming the stage and every broken rule."""
    return BundleRejected(json.dumps({"stage": stage, "problems": [p.as_dict() for p in problems]}, ensure_ascii=False))


def open_bundle(rt: Runtime, upload: Upload, *, verify_layout: bool = False) -> tuple[CaseRecord, Any]:
    """Read the uploaded bundle in place (ranged GETs, nothing downloaded); a broken rule is a rejection."""
    reader = rt.aws.s3.reader(upload["bucket"], upload["key"], upload.get("version"))
    try:
        # The upload version is immutable: Collect verifies its layout once; Organise and Pack read the same bytes.
        return collect(reader, label=f"s3://{upload['bucket']}/{upload['key']}", verify_layout=verify_layout)
    except EarchiveError as exc:
        reader.close()
        raise rejected("collect", exc.problems) from None


def resolve_upload(rt: Runtime, up: Upload) -> Upload:
    """The upload with its key as stored (events may carry it URL-encoded, review F5)."""
    if not up.get("bucket") or not up.get("key"):
        return up
    return {**up, "key": rt.aws.s3.resolve_key(up["bucket"], up["key"], up.get("version"))}


def same_upload(a: Upload | None, b: Upload | None) -> bool:
    """One S3 object version (size and ETag may be missing from a re-run's event)."""
    return bool(a and b) and all(a.get(k) == b.get(k) for k in ("bucket", "key", "version"))  # type: ignore[union-attr]


def claim_key(up: Upload) -> str:
    """The catalogue item that says which execution handles this upload version."""
    return f"claim#{up['bucket']}/{up['key']}#{up.get('version') or ''}"


def staging_key(state: dict[str, Any], name: str) -> str:
    """A staging object of this upload version: ``<kind>/<电子文件号>/<upload stream>.<ext>``.

    Two uploads of one case never share staging objects, and the claim lets one execution at a
    time own an upload version (review F2).
    """
    kind, _, ext = name.partition(".")
    return f"{kind}/{state['record_code']}/{state['stream'].removeprefix('upload#')}.{ext}"


def anchor_head(rt: Runtime, stream: str, entry: dict[str, Any], until: Any) -> None:
    """Lock the stream's head in the archive bucket (review F19; see :mod:`earchive.aws.anchors`)."""
    rt.aws.anchors.anchor(stream, entry, until)


def staged_digests(rt: Runtime, state: dict[str, Any]) -> dict[str, Any]:
    """What pack measured in its single read: manifest entries and per-file digests (kept beside the package)."""
    return rt.aws.s3.get_json(rt.settings.staging_bucket, state["staging"]["entries"])


def finish_upload(rt: Runtime, state: dict[str, Any], up: Upload, outcome: str, package: str) -> None:
    """Remove the staging copies, close the claim and tag the upload with its outcome."""
    rt.aws.s3.delete_quietly(rt.settings.staging_bucket, list((state.get("staging") or {}).values()))
    if outcome == "FAILED":  # the system failed: a re-run (a new execution for the same upload) takes the claim over
        rt.aws.catalogue.fail_claim(claim_key(up), state.get("execution", ""))
    else:
        rt.aws.catalogue.finish_claim(claim_key(up), outcome, package)
    # S3 tag values allow no '#': an upload's own item (upload#<hash>) is tagged upload-<hash>
    rt.aws.s3.tag_quietly(up["bucket"], up["key"], up.get("version"),
                          {"earchive-status": outcome.lower(), "earchive-package": package.replace("#", "-")})
