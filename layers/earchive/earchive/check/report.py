"""Check reports a clerk can read: HTML (printable, self-contained) and JSON."""

from __future__ import annotations

import html
import json
from pathlib import Path

from . import CheckReport

STATUS_ZH = {"pass": "通过", "fail": "不通过", "manual": "人工核查", "not_applicable": "不适用"}
PROPERTY_ZH = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性", "security": "安全性"}
STAGE_ZH = {"archiving": "归档检测", "receiving": "接收检测"}

CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #999;padding:.35em .5em;vertical-align:top;text-align:left}
th{background:#eee}.pass{color:#166534}.fail{color:#b91c1c;font-weight:bold}.manual{color:#92400e}.not_applicable{color:#666}
.verdict{font-size:1.2em;padding:.5em;border:2px solid}.ok{border-color:#166534}.ko{border-color:#b91c1c}
.sign{margin-top:3em;display:flex;gap:6em}@media print{body{margin:1cm}}
"""


def to_json(report: CheckReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)


def to_html(report: CheckReport) -> str:
    e = html.escape
    rows = []
    for r in report.results:
        rows.append(
            f"<tr><td>{e(r.id)}</td><td>{PROPERTY_ZH.get(r.property, r.property)}</td><td>{e(r.name)}</td>"
            f'<td class="{r.status}">{STATUS_ZH.get(r.status, r.status)}</td><td>{e(r.detail)}</td>'
            f"<td>{e(r.checked_at)}</td></tr>"
        )
    failed = len(report.failures)
    verdict = ("检测合格 / passed" if report.passed else f"检测不合格：{failed} 项不通过 / failed ({failed})")
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{STAGE_ZH[report.stage]}报告 — {e(Path(report.package).name)}</title>
<style>{CSS}</style></head><body>
<h1>政务服务电子档案{STAGE_ZH[report.stage]}报告（四性检测，DA/T 70）</h1>
<p>归档信息包：<b>{e(Path(report.package).name)}</b><br>检测时间：{e(report.checked_at)}<br>
病毒扫描：{e(report.scanner)}<br>信任锚：{e("; ".join(report.trust) or "—")}</p>
<p class="verdict {"ok" if report.passed else "ko"}">{verdict}</p>
<table><thead><tr><th>编号</th><th>性质</th><th>检测项目</th><th>结果</th><th>说明（对象与规则）</th><th>检测时间</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<div class="sign"><div>检测人：__________</div><div>审核人：__________</div><div>日期：__________</div></div>
</body></html>
"""


def write_html(report: CheckReport, path: Path | None = None) -> Path:
    """Write the HTML report, by default beside the package as ``<package>.<stage>.html``."""
    target = path or Path(report.package).with_name(f"{Path(report.package).name}.{report.stage}-report.html")
    target.write_text(to_html(report), "utf-8")
    return target
