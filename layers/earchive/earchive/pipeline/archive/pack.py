"""Pack (形成信息包): stream the bundle's materials into the unsealed package; keep the digests for the seal.

A case larger than the function's /tmp (or than ``EARCHIVE_STREAM_ABOVE``) is written straight
into a multipart upload instead of a file, and Seal and Check then work on it in S3 (ADR 0015):
what used to be a BUNDLE-LIMIT rejection is archived.

Input :class:`~earchive.pipeline.state.Organised`; output :class:`~earchive.pipeline.state.Packed`.
"""

from __future__ import annotations

import contextlib
import json
import logging

from ...domain.organise import Plan, organise
from ...domain.pack import PackResult, stream_package, write_package
from ...errors import EarchiveError
from ..runtime import Runtime, streamed, workdir
from ..state import Organised, Packed
from .common import ACTOR, open_bundle, rejected, staging_key
from .configured import applied

log = logging.getLogger(__name__)


def run(state: Organised, rt: Runtime) -> Packed:
    """Stream the bundle's materials into the (unsealed) package; keep the digests for the seal."""
    aws, settings = rt.aws, rt.settings
    record, bundle = open_bundle(rt, state["upload"])
    record = applied(record, state.get("config"))  # the schedule's 保管期限, when Organise applied it (ADR 0017)
    code = state["record_code"]
    into_s3 = streamed(settings, sum(m.declared_size for m in record.materials))  # (+ 64 MiB: metadata, zip overhead)
    key, entries = staging_key(state, "unsealed.zip"), staging_key(state, "unsealed.entries.json")
    with contextlib.closing(bundle):
        plan = organise(record, state["serial"])
        try:
            if into_s3:  # larger than /tmp (or than EARCHIVE_STREAM_ABOVE): straight into S3 (ADR 0015)
                result = _stream(rt, plan, key)
            else:
                with workdir(settings, "pack") as work:
                    result = write_package(plan, work, sealed=False, overwrite=True, lanes=1)  # one reader: the bundle is read by ranged GETs
                    aws.s3.upload(result.path, settings.staging_bucket, key)
        except EarchiveError as exc:
            raise rejected("pack", exc.with_case(record.project_id).problems) from None
    manifest = {"entries": result.entries, "files": result.files}
    aws.s3.put(settings.staging_bucket, entries, json.dumps(manifest, ensure_ascii=False).encode("utf-8"), ChecksumAlgorithm="SHA256")
    aws.catalogue.move(code, "PACKED", allowed_from=("RECEIVED",), owner=state.get("execution", ""), packed_bytes=result.total_bytes)
    aws.events.append(state["stream"], actor=ACTOR, action="pack", result="ok",
                      detail={"files": len(result.files), "bytes": result.total_bytes, "seconds": round(result.seconds, 3)})
    return {**state, "staging": {"unsealed": key, "entries": entries}, "streamed": into_s3}  # type: ignore[typeddict-item]


def _stream(rt: Runtime, plan: Plan, key: str) -> PackResult:
    """Pack into a multipart upload; a failure aborts it, so no part is left behind to pay for."""
    writer = rt.aws.s3.part_writer(rt.settings.staging_bucket, key)
    try:
        result = stream_package(plan, writer)
        writer.complete()
    except BaseException:
        try:
            writer.abort()
        except Exception as exc:  # noqa: BLE001 - the first error is the one to report; S3's lifecycle rule removes the parts
            log.warning("could not abort the multipart upload of %s: %s", key, exc)
        raise
    return result
