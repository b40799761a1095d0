"""Seal (固化): append the manifests, the signature and the timestamp; the sealed package goes back to staging.

Input :class:`~earchive.pipeline.state.Packed`; output :class:`~earchive.pipeline.state.Sealed`.
"""

from __future__ import annotations

from ...domain.pack import seal_package
from ...errors import EarchiveError, TransientError
from ..runtime import Runtime, workdir
from ..state import Packed, Sealed
from .common import ACTOR, staged_digests, staging_key


def run(state: Packed, rt: Runtime) -> Sealed:
    """Append manifests, signature and timestamp; the sealed package goes back to staging."""
    aws, settings = rt.aws, rt.settings
    code = state["record_code"]
    with workdir(settings, "seal") as work:
        path = work / f"{code}.zip"
        aws.s3.download(settings.staging_bucket, state["staging"]["unsealed"], path)
        entries = staged_digests(rt, state)["entries"]
        try:
            sealed = seal_package(path, [tuple(e) for e in entries], signer=rt.signer, tsa=rt.tsa)
        except EarchiveError as exc:
            if exc.rule == "SEAL-TSA":  # the TSA did not answer or refused: an outage, retried with back-off (review F5)
                raise TransientError(str(exc)) from exc
            raise
        key = staging_key(state, "sealed.zip")
        aws.s3.upload(path, settings.staging_bucket, key)
    aws.catalogue.move(code, "SEALED", allowed_from=("PACKED",), owner=state.get("execution", ""), signer=sealed.signer, tsa=sealed.tsa)
    aws.events.append(state["stream"], actor=ACTOR, action="seal", result="ok", detail={"signer": sealed.signer, "tsa": sealed.tsa})
    return {**state, "staging": {**state["staging"], "sealed": key}}  # type: ignore[typeddict-item]
