"""Check (归档检测): the DA/T 70 archiving tests (GD-…) on the sealed package; the report goes to the reports bucket.

Input :class:`~earchive.pipeline.state.Sealed`; output :class:`~earchive.pipeline.state.Checked`.
A failed check is not an error: the Archivable choice sends it to Reject. A package Pack streamed
into S3 is read there by ranged GETs, one member at a time, after one pass for its digests.
"""

from __future__ import annotations

import datetime as dt

from ...check import check_package
from ...check.report import to_html, to_json
from ...domain.wording import summarise
from ..runtime import Runtime, check_in_s3, workdir
from ..state import Checked, Sealed
from .common import ACTOR


def run(state: Sealed, rt: Runtime) -> Checked:
    """Run the archiving check (GD tests) on the sealed package; write the report."""
    aws, settings = rt.aws, rt.settings
    code = state["record_code"]
    options = rt.check_options("archiving", catalogue_reader=lambda c: aws.catalogue.get(c) is not None)
    sealed_key = state["staging"]["sealed"]
    if state.get("streamed"):  # too large for /tmp: checked where it is, by ranged GETs (ADR 0015)
        size, digests, report = check_in_s3(rt, settings.staging_bucket, sealed_key, f"{code}.zip", options)
    else:
        with workdir(settings, "check") as work:
            path = work / f"{code}.zip"
            size, digests = aws.s3.download(settings.staging_bucket, sealed_key, path)
            report = check_package(path, options)
    report.package = f"{code}.zip"  # the package, by its name: never the scratch copy the check read
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    report_key = f"reports/{code}/{stamp}-{digests['SM3'][:12]}-archiving.json"  # names the bytes it examined: a re-pack gets its own
    aws.s3.put(settings.reports_bucket, report_key, to_json(report).encode("utf-8"), "application/json")
    aws.s3.put(settings.reports_bucket, report_key.replace(".json", ".html"), to_html(report).encode("utf-8"), "text/html; charset=utf-8")
    summary = summarise(r.as_dict() for r in report.results)  # what every signed list says of this check (domain.wording)
    failed = [{"id": r.id, "name": r.name, "detail": r.detail[:300], "objects": r.objects[:5]} for r in report.failures][:40]
    aws.catalogue.move(code, "CHECKED", allowed_from=("SEALED",), owner=state.get("execution", ""), check_passed=report.passed, check_report=report_key,
                       check_summary=summary,
                       package_sha256=digests["SHA-256"], package_sm3=digests["SM3"], package_size=size)
    aws.events.append(state["stream"], actor=ACTOR, action="check", result="pass" if report.passed else "fail",
                      detail={"report": report_key, "failed": [f["id"] for f in failed]})
    return {**state, "check": {"passed": report.passed, "failed": failed, "report": report_key,
                                "manual": summary["manual"]},  # type: ignore[typeddict-item]
            "package": {"sha256": digests["SHA-256"], "sm3": digests["SM3"], "size": size}}
