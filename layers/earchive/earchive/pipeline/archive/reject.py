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

from ... import rules_zh, zh
from ...domain.outcome import outcome
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
              "execution": execution, "stage_zh": zh.label(zh.PIPELINE_STAGE, stage), "rejected_at_beijing": zh.beijing(now),
              "advice": rules_zh.overall_advice(verdict, problems), "reasons_zh": [rules_zh.describe(p) for p in problems[:50]]}
    base = up["key"]
    aws.s3.put(up["bucket"], f"{base}.{suffix}.json", json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    aws.s3.put(up["bucket"], f"{base}.{suffix}.html", rejection_html(report).encode("utf-8"), "text/html; charset=utf-8")
    item = aws.catalogue.get(package_id)
    if item and item.get("status") in ("ARCHIVED", "ACCEPTED"):
        raise RuntimeError(f"{package_id} is {item.get('status')}; refusing to mark it REJECTED")
    entry = aws.events.append(stream, actor=ACTOR, action="reject", result=suffix, detail={"stage": stage, "rules": [p.get("rule") for p in problems]})
    anchor_head(rt, stream, entry, dt.datetime.now(dt.UTC) + dt.timedelta(days=rt.settings.min_retention_days))
    known = {k: v for k, v in (state.get("case") or _case_fields(rt, up)).items()  # its hall is where clerks find it
             if k in ("region_code", "fonds_identifier", "task_code", "task_name", "task_type") and v}
    aws.catalogue.mark_rejected({
        **known, **(item or {}), "package_id": package_id, "status": verdict, "stage": stage, "upload": up, "stream": stream,
        "problems": problems[:50], "rejected_at": now, "project_id": report["project_id"] or "unknown", "retryable": failed,
        "report": f"s3://{up['bucket']}/{base}.{suffix}.json", **({"record_code": code} if code else {}),
        "event_head": {"seq": entry["seq"], "hash": entry["hash"]},
    }, owner=execution if owned else None)
    finish_upload(rt, state, up, verdict, package_id)  # type: ignore[arg-type]
    rt.announce(stream, [outcome(verdict, {**(item or {}), "upload": up, "project_id": report["project_id"],
                                           **({"record_code": code} if code else {})}, problems=problems)])
    return {**state, "status": verdict, "rejection": {"stage": stage, "problems": problems[:20], "report": f"{base}.{suffix}.json"}}  # type: ignore[typeddict-item]


def _case_fields(rt: Runtime, up: dict[str, Any]) -> dict[str, Any]:
    """What the upload's case.json says of its case, when Collect refused the bundle before reading it whole (best effort)."""
    from ...domain.collect import Bundle, case_json_of

    try:
        bundle = Bundle(rt.aws.s3.reader(up["bucket"], up["key"], up.get("version")), label=up["key"], verify_layout=False)
        try:
            case = (case_json_of(bundle) or {}).get("case")
        finally:
            bundle.close()
    except Exception:  # noqa: BLE001 - a bundle too broken to read: listed under the stack's own hall
        return {}
    if not isinstance(case, dict):
        return {}
    return {k: str(case[k]) for k in ("region_code", "fonds_identifier", "task_code", "task_name", "task_type")
            if isinstance(case.get(k), str | int)}


def rejection_html(report: dict[str, Any]) -> str:
    """The notice (拒收通知 / 失败通知) a platform operator opens beside the upload: in Chinese, what to do first.

    The verdict and the advice come first (a duplicate upload is told what is true, not to fix it; a
    system failure that it is not the platform's fault), then every problem with its Chinese reason.
    The English message stays in small print for whoever has to debug it.
    """
    e = html.escape
    problems = report.get("problems") or []
    failed = report.get("status") == "FAILED"
    kinds = {rules_zh.rule_kind(p.get("rule")) for p in problems}
    if failed:
        title = "办件归档失败通知（系统原因，可重试）"
    elif kinds and kinds <= {rules_zh.ARCHIVED, rules_zh.WAIT}:
        title = "办件归档拒收通知（重复上传，未处理）"
    else:
        title = "办件归档拒收通知"
    codes = "、".join(dict.fromkeys(str(p.get("rule") or "—") for p in problems)) or "—"
    named = "".join(f"<li><b>{e(str(p.get('rule') or '—'))}</b> {e(_reason(p))}</li>" for p in problems[:10])
    more = f"<li>……另有 {len(problems) - 10} 项，见下表。</li>" if len(problems) > 10 else ""
    head = (f"{'系统处理失败' if failed else '未归档'}：{len(problems)} 项问题（{codes}）"
            if problems else ("系统处理失败" if failed else "未归档"))
    rows = "".join(
        f"<tr><td>{i}</td><td>{e(str(p.get('rule') or '—'))}</td><td>{e(rules_zh.file_label(p.get('file')))}</td>"
        f"<td><b>{e(_reason(p))}</b><div>处理：{e(rules_zh.rule_text(p.get('rule'))[1])}</div>"
        f"<div class=\"en\">{e(rules_zh.plain(p.get('message')))}</div></td></tr>"
        for i, p in enumerate(problems, 1))
    facts = [("上传文件", report["upload"].get("key") or "—"), ("办件编号", report.get("project_id") or "—"),
             ("电子文件号", report.get("record_code") or "—"), ("环节", zh.label(zh.PIPELINE_STAGE, report.get("stage"))),
             ("结果", "系统失败（可重试）" if failed else "拒收"), ("时间", f"{zh.beijing(report.get('rejected_at'))}（北京时间）")]
    if report.get("check_report"):
        facts.append(("完整检测报告", f"报告存储桶中的 {report['check_report']}（同名 .html 为可打印版本）"))
    info = "".join(f"<tr><td>{e(k)}：</td><td>{e(str(v))}</td></tr>" for k, v in facts)
    advice = report.get("advice") or rules_zh.overall_advice(report.get("status"), problems)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)} — {e(report["upload"].get("key") or "")}</title>'
            f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"
            f'<div class="verdict{" dup" if "重复" in title else ""}"><b>{e(head)}</b><ul>{named}{more}</ul><p><b>处理办法：</b>{e(advice)}</p></div>'
            f'<table class="meta">{info}</table><h2>问题明细</h2>'
            f"<table><colgroup><col class=\"n\"><col class=\"rule\"><col class=\"file\"><col></colgroup>"
            f"<thead><tr><th>序号</th><th>规则</th><th>文件</th><th>原因与处理</th></tr></thead><tbody>{rows}</tbody></table>"
            '<p class="en">“规则”为稳定的规则编号，便于与档案管理员沟通；每项第三行为英文技术说明，供技术人员查看。</p></body></html>')


CSS = ('@page{size:A4;margin:1.5cm 1.2cm}body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;'
       "margin:2em;color:#222;font-size:14px}h1{font-size:1.4em}h2{font-size:1.1em}"
       "table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{border:1px solid #999;padding:.35em .5em;text-align:left;"
       "vertical-align:top;overflow-wrap:anywhere}th{background:#eee}tr{break-inside:avoid}"
       "col.n{width:4em}th{white-space:nowrap}col.rule{width:13em}col.file{width:12em}.en{color:#777;font-size:.8em;margin-top:.25em}"
       ".verdict{border:2px solid #b91c1c;padding:.6em .8em;margin:1em 0}.verdict ul{margin:.4em 0;padding-left:1.4em}"
       ".verdict.dup{border-color:#92400e}"
       ".meta{width:auto;table-layout:auto}.meta td{border:none;padding:.1em .6em .1em 0}@media print{body{margin:0;font-size:12px}}")


def _reason(problem: dict[str, Any]) -> str:
    """The Chinese reason of one problem (a failed check test reads as its name and what it requires)."""
    return rules_zh.rule_text(problem.get("rule"))[0]
