"""Reject: every upload that is not archived ends here with a report beside it; the upload stays.

Two verdicts (review F5): **REJECTED** — the upload breaks a rule (``BundleRejected`` or a failed
check): ``<upload>.rejected.json/.html``, the claim closed for good; **FAILED** — the system failed
(a bug, a TSA outage past its retries, a full /tmp, an out-of-memory or timed-out Lambda):
``<upload>.failed.json/.html`` saying it is retryable, the claim marked FAILED so that a re-run
takes it over. The state machine then ends in ``Rejected`` or ``Failed``.

Input :class:`~earchive.pipeline.state.RejectInput` (any state's input plus the
caught error, or a failed check); output :class:`~earchive.pipeline.state.Rejected`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from ..runtime import Runtime
from ..state import Rejected, RejectInput, stream_id, upload_from_event
from .common import ACTOR, anchor_head, finish_upload, resolve_upload


def reasons(state: RejectInput) -> tuple[str, list[dict[str, Any]]]:
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


def system_failure(state: RejectInput) -> bool:
    """True when the system failed (anything but a broken rule or a failed check): retryable, not the uploader's fault."""
    error = state.get("error")
    return bool(error) and error.get("Error") != "BundleRejected"


def run(state: RejectInput, rt: Runtime) -> Rejected:
    """Write the report beside the upload and mark the catalogue REJECTED (or FAILED, retryable); the upload stays."""
    aws = rt.aws
    up = upload_from_event(state) if "upload" in state else resolve_upload(rt, upload_from_event(state))  # type: ignore[arg-type]
    stream = state.get("stream") or stream_id(up)
    stage, problems = reasons(state)
    failed = system_failure(state)
    verdict, suffix = ("FAILED", "failed") if failed else ("REJECTED", "rejected")
    code = state.get("record_code")
    execution = state.get("execution", "")
    # A system failure never marks the case's item: it stays with its (now dead) owner for a re-run to take over.
    owned = not failed and code is not None and (rt.aws.catalogue.get(code) or {}).get("execution") == execution
    # The case's item only while this execution owns it (another upload may have taken it, review F2); else the upload's own.
    package_id = code if owned else stream
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    report = {"upload": up, "status": verdict, "stage": stage, "rejected_at": now, "record_code": code,
              "project_id": (state.get("case") or {}).get("project_id") or next((p.get("case") for p in problems if p.get("case")), None),
              "problems": problems, "check_report": (state.get("check") or {}).get("report"), "retryable": failed,
              "execution": execution}
    base = up["key"]
    aws.s3.put(up["bucket"], f"{base}.{suffix}.json", json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    aws.s3.put(up["bucket"], f"{base}.{suffix}.html", rejection_html(report).encode("utf-8"), "text/html; charset=utf-8")
    item = aws.catalogue.get(package_id)
    if item and item.get("status") in ("ARCHIVED", "ACCEPTED"):
        raise RuntimeError(f"{package_id} is {item.get('status')}; refusing to mark it REJECTED")
    entry = aws.events.append(stream, actor=ACTOR, action="reject", result=suffix, detail={"stage": stage, "rules": [p.get("rule") for p in problems]})
    anchor_head(rt, stream, entry, dt.datetime.now(dt.UTC) + dt.timedelta(days=rt.settings.min_retention_days))
    aws.catalogue.mark_rejected({
        **(item or {}), "package_id": package_id, "status": verdict, "stage": stage, "upload": up, "stream": stream,
        "problems": problems[:50], "rejected_at": now, "project_id": report["project_id"] or "unknown", "retryable": failed,
        "report": f"s3://{up['bucket']}/{base}.{suffix}.json", **({"record_code": code} if code else {}),
        "event_head": {"seq": entry["seq"], "hash": entry["hash"]},
    }, owner=execution if owned else None)
    finish_upload(rt, state, up, verdict, package_id)  # type: ignore[arg-type]
    return {**state, "status": verdict, "rejection": {"stage": stage, "problems": problems[:20], "report": f"{base}.{suffix}.json"}}  # type: ignore[typeddict-item]


def rejection_html(report: dict[str, Any]) -> str:
    """The rejection notice (拒收通知) a platform operator opens beside the upload."""
    rows = "".join(f"<tr><td>{html.escape(str(p.get('rule')))}</td><td>{html.escape(str(p.get('file') or ''))}</td>"
                   f"<td>{html.escape(str(p.get('message')))}</td></tr>" for p in report["problems"])
    failed = report.get("status") == "FAILED"
    title = "办件归档失败通知（系统原因，可重试） / Failed" if failed else "办件归档拒收通知 / Rejection"
    advice = ("系统处理失败，不是上传内容的问题；原上传文件保留未动，运维人员已收到告警，修复后重新执行即可，无需重新上传。"
              "The system failed, not the upload: it was kept as it was and can be re-run without uploading again."
              if failed else "原上传文件保留未动；请修正后重新上传。The upload was left as it was; fix and upload again.")
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)} {html.escape(report["upload"]["key"])}</title>'
            '<style>body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em}table{border-collapse:collapse}'
            'td,th{border:1px solid #999;padding:.3em .5em;text-align:left}</style></head><body>'
            f'<h1>{html.escape(title)}</h1><p>上传文件：{html.escape(report["upload"]["key"])}<br>办件编号：{html.escape(str(report["project_id"]))}'
            f'<br>环节：{html.escape(report["stage"])}<br>时间：{report["rejected_at"]}</p>'
            f'<table><tr><th>规则</th><th>文件</th><th>原因</th></tr>{rows}</table>'
            f'<p>{html.escape(advice)}</p></body></html>')
