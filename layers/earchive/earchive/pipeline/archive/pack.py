"""Pack (形成信息包): stream the bundle's materials into the unsealed package; keep the digests for the seal.

Input :class:`~earchive.pipeline.state.Organised`; output :class:`~earchive.pipeline.state.Packed`.
"""

from __future__ import annotations

import contextlib
import json

from ...domain.organise import organise
from ...domain.pack import write_package
from ...errors import EarchiveError
from ..runtime import Runtime, workdir
from ..state import Organised, Packed
from .common import ACTOR, open_bundle, rejected, staging_key


def run(state: Organised, rt: Runtime) -> Packed:
    """Stream the bundle's materials into the (unsealed) package; keep the digests for the seal."""
    aws, settings = rt.aws, rt.settings
    record, bundle = open_bundle(rt, state["upload"])
    code = state["record_code"]
    with workdir(settings, "pack") as work, contextlib.closing(bundle):
        plan = organise(record, state["serial"])
        try:
            result = write_package(plan, work, sealed=False, overwrite=True)
        except EarchiveError as exc:
            raise rejected("pack", exc.with_case(record.project_id).problems) from None
        key, entries = staging_key(state, "unsealed.zip"), staging_key(state, "unsealed.entries.json")
        aws.s3.upload(result.path, settings.staging_bucket, key)
        manifest = {"entries": result.entries, "files": result.files}
        aws.s3.put(settings.staging_bucket, entries, json.dumps(manifest, ensure_ascii=False).encode("utf-8"),
                   ChecksumAlgorithm="SHA256")
    aws.catalogue.move(code, "PACKED", allowed_from=("RECEIVED",), owner=state.get("execution", ""), packed_bytes=result.total_bytes)
    aws.events.append(state["stream"], actor=ACTOR, action="pack", result="ok",
                      detail={"files": len(result.files), "bytes": result.total_bytes, "seconds": round(result.seconds, 3)})
    return {**state, "staging": {"unsealed": key, "entries": entries}}  # type: ignore[typeddict-item]
