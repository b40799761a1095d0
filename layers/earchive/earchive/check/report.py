"""Check reports a clerk can read: HTML (Chinese first, printable on A4, self-contained) and JSON (for machines).

The HTML names the failed tests at the top, explains every test in Chinese and keeps the English
detail (what a developer needs) in a small grey line under it. Times are Beijing time. The JSON keeps
its keys and adds the Chinese beside them (``detail_zh``, ``checked_at_beijing``), so nothing reading
it breaks.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .. import zh
from ..domain.wording import report_verdict
from ..rules_zh import plain, test_text
from . import CheckReport, TestResult

STATUS_ZH = zh.CHECK_STATUS
PROPERTY_ZH = zh.PROPERTY
STAGE_ZH = zh.CHECK_STAGE

CSS = """
@page{size:A4;margin:1.5cm 1.2cm}
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em;color:#222;font-size:14px}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;width:100%;font-size:.9em;table-layout:fixed}
th,td{border:1px solid #999;padding:.35em .5em;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#eee}tr{page-break-inside:avoid;break-inside:avoid}thead{display:table-header-group}
col.id{width:6.6em}col.prop{width:4.4em}col.name{width:10.5em}col.res{width:5.4em}col.time{width:6em}
.nowrap,td.time{white-space:nowrap;overflow-wrap:normal}
.pass{color:#166534}.fail{color:#b91c1c;font-weight:bold}.manual{color:#92400e}.not_applicable{color:#666}
.en{color:#777;font-size:.8em;margin-top:.25em}
.verdict{font-size:1.15em;padding:.6em .8em;border:2px solid;margin:1em 0}.ok{border-color:#166534}.ko{border-color:#b91c1c}
.verdict ul{margin:.4em 0 0;padding-left:1.4em;font-size:.9em}.verdict li{margin:.2em 0}
.meta td{border:none;padding:.1em .6em .1em 0}.meta{width:auto;table-layout:auto}
.sign{margin-top:3em;display:flex;gap:6em}@media print{body{margin:0;font-size:12px}}
"""


PROFILE_ZH = {
    "guomi": "国密（SM2 签名于 SM3 摘要清单、SM2 时间戳，证书链均为 SM3withSM2）",
    "guomi-seal": "国密封装（SM2 签名于 SM3 摘要清单），但时间戳或证书链含非国密算法",
    "standard": "通用算法（签名于 SHA-256 摘要清单）",
}


def detail_zh(result: TestResult) -> str:
    """The Chinese line of one result: what its verdict means, and the objects it names."""
    if result.status == "fail" and result.detail.startswith("无法检测"):
        text = "不通过：因前面的步骤失败，本项无法检测（无法检测的项目一律按不通过处理）。"
    else:
        text = test_text(result.id, result.status)
    if result.objects and result.status in ("fail", "manual"):
        shown = "、".join(plain(o) for o in result.objects[:10])
        text += f"涉及：{shown}" + (f" 等 {len(result.objects)} 个" if len(result.objects) > 10 else "") + "。"
    return text


def to_json(report: CheckReport) -> str:
    """The report as JSON: the original keys, plus the Chinese and Beijing-time fields a reader may show."""
    data: dict[str, Any] = report.as_dict()
    data["checked_at_beijing"] = zh.beijing(report.checked_at)
    data["stage_zh"] = STAGE_ZH.get(report.stage, report.stage)
    data["verdict_zh"] = report_verdict(len(report.failures), _manual_count(report))
    data["failed_tests"] = [r.id for r in report.failures]
    data["crypto_profile_zh"] = PROFILE_ZH.get(report.crypto_profile, "未确认（封装签名未通过验证）")
    for row, r in zip(data["results"], report.results):
        row.update(status_zh=STATUS_ZH.get(r.status, r.status), property_zh=PROPERTY_ZH.get(r.property, r.property),
                   detail_zh=detail_zh(r), checked_at_beijing=zh.beijing(r.checked_at))
    return json.dumps(data, ensure_ascii=False, indent=2)


def _manual_count(report: CheckReport) -> int:
    return sum(r.status == "manual" for r in report.results)


def _verdict(report: CheckReport) -> str:
    """The box at the top: the verdict, then every failed test (and every manual one) by id, name and explanation."""
    e = html.escape
    counts = {s: sum(r.status == s for r in report.results) for s in STATUS_ZH}
    tally = "，".join(f"{STATUS_ZH[s]} {n} 项" for s, n in counts.items() if n)
    verdict = report_verdict(len(report.failures), _manual_count(report))
    if report.passed:
        head = f"{verdict}：没有不通过的项目（共 {len(report.results)} 项：{tally}）。"
    else:
        head = f"{verdict}（共 {len(report.results)} 项：{tally}）。不通过的项目："
    items = [f'<li><b class="fail">{e(r.id)}</b> {e(r.name)}——{e(detail_zh(r))}</li>' for r in report.failures]
    manual = [r for r in report.results if r.status == "manual"]
    if manual:
        items.append("<li>需人工核查：" + "；".join(f"<b>{e(r.id)}</b> {e(r.name)}" for r in manual) + "。</li>")
    listed = f"<ul>{''.join(items)}</ul>" if items else ""
    return f'<div class="verdict {"ok" if report.passed else "ko"}"><b>{e(head)}</b>{listed}</div>'


def _time(value: str, day: str) -> str:
    """A result's time: HH:MM:SS when it is on the report's day (the date is in the header), else date and time."""
    shown = zh.beijing(value)
    return shown[11:] if shown.startswith(day) else shown


def to_html(report: CheckReport) -> str:
    """The printable check report (A4, no external assets): verdict and failed tests first, then every test."""
    e = html.escape
    stage = STAGE_ZH.get(report.stage, report.stage)
    when = zh.beijing(report.checked_at)
    day = when[:10]
    rows = []
    for r in report.results:
        rows.append(
            f'<tr><td class="nowrap">{e(r.id)}</td><td>{e(PROPERTY_ZH.get(r.property, r.property))}</td><td>{e(r.name)}</td>'
            f'<td class="{e(r.status)} nowrap">{e(STATUS_ZH.get(r.status, r.status))}</td>'
            f'<td>{e(detail_zh(r))}<div class="en">{e(r.id)} · {e(plain(r.detail))}</div></td>'
            f'<td class="time">{e(_time(r.checked_at, day))}</td></tr>'
        )
    name = e(Path(report.package).name)
    trust = "；".join(t if "=" in t else Path(t).name for t in report.trust) or "—"  # a file by its name, a certificate by its subject
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{stage}报告 — {name}</title>
<style>{CSS}</style></head><body>
<h1>政务服务电子档案{stage}报告（四性检测，DA/T 70）</h1>
<table class="meta"><tr><td>归档信息包：</td><td><b>{name}</b></td></tr>
<tr><td>检测环节：</td><td>{stage}</td></tr>
<tr><td>检测时间：</td><td class="nowrap">{e(when)}（北京时间）</td></tr>
<tr><td>病毒扫描：</td><td>{e(plain(report.scanner) or "—")}</td></tr>
<tr><td>信任锚：</td><td>{e(trust)}</td></tr>
<tr><td>密码算法：</td><td>{e(PROFILE_ZH.get(report.crypto_profile, "未确认（封装签名未通过验证）"))}</td></tr></table>
{_verdict(report)}
<h2>检测明细</h2>
<table><colgroup><col class="id"><col class="prop"><col class="name"><col class="res"><col><col class="time"></colgroup>
<thead><tr><th>编号</th><th>性质</th><th>检测项目</th><th>结果</th><th>说明</th><th>检测时间</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p class="en">说明栏第二行为检测编号和英文技术说明，供技术人员查看；“检测时间”栏为北京时间 {e(day)} 当日的时刻。</p>
<div class="sign"><div>检测人：__________</div><div>审核人：__________</div><div>日期：__________</div></div>
</body></html>
"""


def write_html(report: CheckReport, path: Path | None = None) -> Path:
    """Write the HTML report, by default beside the package as ``<package>.<stage>-report.html``."""
    target = path or Path(report.package).with_name(f"{Path(report.package).name}.{report.stage}-report.html")
    target.write_text(to_html(report), "utf-8")
    return target
