"""What a clerk reads, in Chinese: labels of statuses and retention periods, and Beijing time.

Reports, lists and the command line take their words from here, so one status is called the
same everywhere. Codes stay in English (stable, for machines); the Chinese word comes first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")

# catalogue statuses of a case / package
CASE_STATUS = {
    "RECEIVED": "已接收待整理", "PACKED": "已组包", "SEALED": "已固化", "CHECKED": "已检测", "REGISTERED": "已登记",
    "STORING": "入库中", "ARCHIVED": "已归档", "ACCEPTED": "已移交接收", "RETURNED": "已退回待更正",
    "REJECTED": "拒收", "FAILED": "系统失败（可重试）",
    "TRANSFERRING": "移交中（待接收单位决定）", "WITHDRAWN": "未接收（移出本批次）",  # a version's outcome in one batch's 归档目录清单
}
# transfer batch statuses and a package's state within a batch
BATCH_STATUS = {
    "DRAFT": "草稿", "SUBMITTED": "已申请移交", "RECEIVING": "接收检测完成，待接收方决定", "ACCEPTED": "已全部接收",
    "PARTLY_RETURNED": "部分退回", "RETURNED": "全部退回", "CANCELLED": "已作废",
}
PACKAGE_STATE = {"LISTED": "待复制", "COPIED": "已复制待检测", "CHECKED": "已检测", "ACCEPTED": "接收", "RETURNED": "退回",
                 "WITHDRAWN": "未接收（移出本批次）"}
RETENTION = {"Y": "永久", "D30": "30年", "D10": "10年"}


def label(table: dict[str, str], code: Any) -> str:
    """``已归档`` for ``ARCHIVED``; an unknown or empty code prints as itself or ``—`` (never ``None``)."""
    if code is None or code == "":
        return "—"
    return table.get(str(code), str(code))


def beijing(value: str | dt.datetime | None, *, seconds: bool = True) -> str:
    """``2026-11-25 17:44:36`` (Beijing time) from an ISO time in any zone; ``—`` when there is none."""
    if not value:
        return "—"
    try:
        when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


# the archive pipeline's stages, as a rejection notice names them ("pipeline": a system failure outside any one rule)
PIPELINE_STAGE = {
    "collect": "收集", "organise": "整理", "pack": "组包", "seal": "固化", "check": "归档检测", "register": "归档登记",
    "store": "入库", "pipeline": "归档流程（系统处理）",
}
# a check report's words: the verdict of one test, its property (四性) and the stage it ran at
CHECK_STATUS = {"pass": "通过", "fail": "不通过", "manual": "人工核查", "not_applicable": "不适用"}
PROPERTY = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性", "security": "安全性"}
CHECK_STAGE = {"archiving": "归档检测", "receiving": "接收检测"}
