"""ReceiveCheck (接收检测, one Map item): the YJ tests on the copy the institution received, with its own trust anchors.

A package too large for /tmp is checked where it is, by ranged GETs (ADR 0015).

Input :class:`~earchive.pipeline.state.BatchItem`; output :class:`~earchive.pipeline.state.ReceiveChecked`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...check import check_package
from ...check.report import to_html, to_json
from ..runtime import Runtime, check_in_s3, streamed, workdir
from ..state import BatchItem, ReceiveChecked


def run(item: BatchItem, rt: Runtime) -> ReceiveChecked:
    """The YJ tests on the copy the institution received, with the institution's trust anchors."""
    aws, settings, transfers = rt.aws, rt.settings, rt.aws.transfers
    p = transfers.package(item["batch_id"], item["package_id"])
    copy = p["transfer_copy"]
    version = copy.get("version_id") or None

    # the institution's own anchors (when configured); never what the package or the sender says
    options = rt.check_options("receiving", institution=True, expected_digest=("SM3", p["package_sm3"]))
    size = int(p.get("size") or 0) or aws.s3.size(copy["bucket"], copy["key"]) or 0
    if streamed(settings, size):  # too large for /tmp: checked in S3, by ranged GETs (ADR 0015)
        _, _, report = check_in_s3(rt, copy["bucket"], copy["key"], Path(copy["key"]).name, options, version)
    else:
        with workdir(settings, "receive") as work:
            path = work / Path(copy["key"]).name
            _, measured = aws.s3.download(copy["bucket"], copy["key"], path, version)
            report = check_package(path, replace(options, measured_digests=measured))
    report.package = Path(copy["key"]).name  # the package the institution received, by its name: never the scratch copy
    report_key = copy["key"].replace("/packages/", "/receiving-reports/").replace(".zip", ".json")
    aws.s3.put(copy["bucket"], report_key, to_json(report).encode(), "application/json")
    aws.s3.put(copy["bucket"], report_key.replace(".json", ".html"), to_html(report).encode(), "text/html; charset=utf-8")
    failed = [{"id": r.id, "name": r.name, "detail": r.detail[:300]} for r in report.failures]
    transfers.set_package(item["batch_id"], item["package_id"], state="CHECKED",
                          receipt={"passed": report.passed, "failed": failed, "report": report_key, "checked_at": report.checked_at,
                                   "manual": [r.id for r in report.results if r.status == "manual"]})
    return {**item, "passed": report.passed}  # type: ignore[typeddict-item]
