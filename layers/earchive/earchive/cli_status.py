"""`earchive status`: every case and upload in the catalogue, its state and reasons, in Chinese (codes beside)."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from typing import Any

from .zh import CASE_STATUS, beijing, label

STAGE_ZH = {"collect": "收集", "organise": "整理", "pack": "组包", "seal": "固化", "check": "归档检测", "register": "归档登记",
            "store": "入库"}


def width(text: str) -> int:
    """Columns a terminal gives ``text`` (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    """``text`` cut or padded to ``columns`` terminal columns, so Chinese and Latin rows line up."""
    out, used = "", 0
    for c in text:
        w = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if used + w > columns:
            break
        out, used = out + c, used + w
    return out + " " * (columns - used)


def reason(problem: dict[str, Any]) -> str:
    """A rule's Chinese explanation (the code beside it)."""
    code = str(problem.get("rule") or "")
    try:
        from .rules_zh import rule_text

        zh = rule_text(code)[0]
    except ImportError:
        from .errors import RULES

        zh = RULES.get(code, "").split(" / ")[0]
    from .rules_zh import file_label

    where = f"（{file_label(problem.get('file'))}）" if problem.get("file") else ""
    return f"{zh or code} [{code}]{where}"


def row(r: dict[str, Any]) -> tuple[str, str, str, str]:
    """(状态, 电子文件号 or the upload's file name, 办件编号, 事项 or reasons) of one catalogue item."""
    status = r.get("status", "")
    name = str(r.get("package_id"))
    if name.startswith("upload#"):  # rejected before it had a 电子文件号: name the file the platform uploaded
        up = r.get("upload") or {}
        name = f"上传 {up.get('key', name)}"
    detail = str(r.get("task_name") or "")
    if status in ("REJECTED", "FAILED"):
        problems = r.get("problems") or []
        stage = STAGE_ZH.get(str(r.get("stage")), str(r.get("stage") or ""))
        detail = f"{stage}：" + "；".join(reason(p) for p in problems[:3]) + (f" 等 {len(problems)} 项" if len(problems) > 3 else "")
        if status == "FAILED":
            detail += "（系统原因，可重试）"
    elif status == "RETURNED":
        detail = f"退回（批次 {r.get('returned_batch')}）：{r.get('return_reason', '')}"
    project = str(r.get("project_id") or "—").replace("unknown", "—")
    return f"{label(CASE_STATUS, status)} {status}", name, project, detail


def cmd_status(args: argparse.Namespace) -> int:
    """`earchive status`: every case in the catalogue with its state and reasons."""
    from .client import catalogue_rows

    rows = catalogue_rows(args.endpoint, args.table)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{pad('状态', 24)} {pad('电子文件号 / 上传文件', 44)} {pad('办件编号', 22)} {pad('更新时间（北京）', 19)} 事项 / 原因")
    for r in rows:
        status, name, project, detail = row(r)
        when = beijing(r.get("updated_at") or r.get("rejected_at") or r.get("archived_at") or r.get("received_at"))
        print(f"{pad(status, 24)} {pad(name, 44)} {pad(project, 22)} {pad(when, 19)} {detail}".rstrip())
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    print("，".join(f"{label(CASE_STATUS, k)} {k}: {v}" for k, v in sorted(counts.items())) or "目录为空 / no cases yet", file=sys.stdout)
    line = config_line(args)
    if line:
        print(line)
    return 0


def config_line(args: argparse.Namespace) -> str | None:
    """The 归档配置 in one line (ADR 0017): the local cloud's, or ``--config-table`` on AWS; None when not asked for on AWS."""
    from .aws.clients import Aws
    from .cli_config import summary
    from .client import local_state
    from .config import Settings

    if args.table is None:
        info = local_state()
        endpoint, table, local = info["endpoint"], info["resources"].get("ArchivingConfigTable", ""), True
    elif getattr(args, "config_table", None):
        endpoint, table, local = args.endpoint, args.config_table, False
    else:
        return None
    return summary(Aws(Settings(archiving_config_table=table or ""), endpoint=endpoint, local=local).archiving_config)
