"""Pack (形成信息包): stream the bundle's materials into the unsealed package; keep the digests for the seal.

Input :class:`~earchive.pipeline.state.Organised`; output :class:`~earchive.pipeline.state.Packed`.
"""

from __future__ import annotations

import contextlib
import json
import shutil

from ...domain.organise import organise
from ...domain.pack import write_package
from ...errors import EarchiveError, Problem
from ..runtime import Runtime, workdir
from ..state import Organised, Packed
from .common import ACTOR, open_bundle, rejected, staging_key


def run(state: Organised, rt: Runtime) -> Packed:
    """Stream the bundle's materials into the (unsealed) package; keep the digests for the seal."""
    aws, settings = rt.aws, rt.settings
    record, bundle = open_bundle(rt, state["upload"])
    code = state["record_code"]
    need = sum(m.declared_size for m in record.materials) + 64 * 1024**2  # the package, its metadata and zip overhead
    free = shutil.disk_usage(settings.work_dir).free
    if need > free:  # a case larger than this function's /tmp is a rule, not a system failure a re-run could fix (review F5)
        bundle.close()
        raise rejected("pack", [Problem("BUNDLE-LIMIT", f"the case needs about {need // 1024**2} MiB to pack, this function has "
                                        f"{free // 1024**2} MiB of working space; split the case or raise EphemeralStorage",
                                        record.project_id)])
    with workdir(settings, "pack") as work, contextlib.closing(bundle):
        plan = organise(record, state["serial"])
        try:
            result = write_package(plan, work, sealed=False, overwrite=True, lanes=1)  # one reader: the bundle is read by ranged GETs
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
