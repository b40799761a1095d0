"""Seal (固化): append the manifests, the signature and the timestamp; the sealed package goes back to staging.

A package Pack streamed into S3 is sealed in place: its members are copied server-side and only
the seal and a new central directory are written (:class:`~earchive.domain.pack.AppendView`).

Input :class:`~earchive.pipeline.state.Packed`; output :class:`~earchive.pipeline.state.Sealed`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ...domain.pack import AppendView, seal_package
from ...domain.seal import Seal
from ...errors import EarchiveError, TransientError
from ..runtime import Runtime, workdir
from ..state import Packed, Sealed
from .common import ACTOR, staged_digests, staging_key

IN_PLACE_FROM = 5 * 1024**2  # S3's smallest part: a smaller streamed package is simply downloaded


def run(state: Packed, rt: Runtime) -> Sealed:
    """Append manifests, signature and timestamp; the sealed package goes back to staging."""
    aws, settings = rt.aws, rt.settings
    code = state["record_code"]
    entries = [tuple(e) for e in staged_digests(rt, state)["entries"]]
    key, unsealed = staging_key(state, "sealed.zip"), state["staging"]["unsealed"]
    sealed = None
    if state.get("streamed"):  # too large for /tmp: the members stay in S3, copied server-side (ADR 0015)
        with contextlib.closing(aws.s3.reader(settings.staging_bucket, unsealed)) as original:
            view = AppendView(original)
            if view.keep >= IN_PLACE_FROM:  # S3's smallest part; a smaller package is simply downloaded below
                sealed = _seal(rt, view, entries)
                aws.s3.append_copy(settings.staging_bucket, unsealed, key, view.keep, bytes(view.tail), original.etag)
    if sealed is None:
        with workdir(settings, "seal") as work:
            path = work / f"{code}.zip"
            aws.s3.download(settings.staging_bucket, unsealed, path)
            sealed = _seal(rt, path, entries)
            aws.s3.upload(path, settings.staging_bucket, key)
    aws.catalogue.move(code, "SEALED", allowed_from=("PACKED",), owner=state.get("execution", ""), signer=sealed.signer, tsa=sealed.tsa)
    aws.events.append(state["stream"], actor=ACTOR, action="seal", result="ok", detail={"signer": sealed.signer, "tsa": sealed.tsa})
    return {**state, "staging": {**state["staging"], "sealed": key}}  # type: ignore[typeddict-item]


def _seal(rt: Runtime, package: Path | AppendView, entries: list) -> Seal:
    try:
        return seal_package(package, entries, signer=rt.signer, tsa=rt.tsa)
    except EarchiveError as exc:
        if exc.rule == "SEAL-TSA":  # the TSA did not answer or refused: an outage, retried with back-off (review F5)
            raise TransientError(str(exc)) from exc
        raise
