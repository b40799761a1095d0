"""Retention (保管期限): how long S3 Object Lock keeps a package, from its 保管期限 and year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

RETENTION_YEARS = {"D10": 10, "D30": 30}
PERMANENT_YEARS = 100  # Y: a legal hold plus the longest retention we set
FLOOR_DAYS = 3650  # the archive bucket's default retention (template.yaml DefaultRetentionDays): no package is kept less


@dataclass(frozen=True)
class Retention:
    """How S3 Object Lock keeps one package."""

    period: str
    retain_until: dt.datetime
    legal_hold: bool
    mode: str = "COMPLIANCE"
    note: str = ""  # why the date is later than the period alone gives (the floor applied)


def retention_for(period: str, year: int, archived_at: dt.datetime, floor_days: int = FLOOR_DAYS, mode: str = "COMPLIANCE") -> Retention:
    """D10/D30 count from 1 January after the archiving year (次年1月1日起算); Y is permanent.

    Never shorter than ``floor_days`` from archiving (the bucket's default retention): the year
    comes from the uploader's 办结 time, so an old case must not be locked for a day (review F8).
    The longer date wins and says why in ``note``. ``mode`` is the stack's Object Lock mode (GOVERNANCE only on a trial stack).
    """
    archived_at = archived_at.replace(microsecond=0)  # S3 keeps retain-until dates to the second: compare like with like
    floor = archived_at + dt.timedelta(days=floor_days)
    if period == "Y":
        return Retention(period, max(archived_at.replace(year=archived_at.year + PERMANENT_YEARS), floor), legal_hold=True, mode=mode)
    if period not in RETENTION_YEARS:
        raise ValueError(f"unknown retention period {period!r}")
    until = dt.datetime(year + 1 + RETENTION_YEARS[period], 1, 1, tzinfo=dt.UTC)
    if until >= floor:
        return Retention(period, until, legal_hold=False, mode=mode)
    note = (f"保管期限 {period} 自 {year + 1} 年 1 月 1 日起算至 {until:%Y-%m-%d}，短于本档案库最短保管 {floor_days} 天，"
            f"按 {floor:%Y-%m-%d} 保管 / {period} from {year} ends {until:%Y-%m-%d}, before the archive's minimum of "
            f"{floor_days} days: kept until {floor:%Y-%m-%d}")
    return Retention(period, floor, legal_hold=False, mode=mode, note=note)
