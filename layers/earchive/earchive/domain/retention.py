"""Retention (保管期限): how long S3 Object Lock keeps a package, from its 保管期限 and year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

RETENTION_YEARS = {"D10": 10, "D30": 30}
PERMANENT_YEARS = 100  # Y: a legal hold plus the longest retention we set


@dataclass(frozen=True)
class Retention:
    """How S3 Object Lock keeps one package."""

    period: str
    retain_until: dt.datetime
    legal_hold: bool
    mode: str = "COMPLIANCE"


def retention_for(period: str, year: int, archived_at: dt.datetime) -> Retention:
    """D10/D30 count from 1 January after the archiving year (次年1月1日起算); Y is permanent."""
    if period == "Y":
        return Retention(period, archived_at.replace(year=archived_at.year + PERMANENT_YEARS), legal_hold=True)
    if period not in RETENTION_YEARS:
        raise ValueError(f"unknown retention period {period!r}")
    until = dt.datetime(year + 1 + RETENTION_YEARS[period], 1, 1, tzinfo=dt.UTC)
    return Retention(period, max(until, archived_at + dt.timedelta(days=1)), legal_hold=False)
