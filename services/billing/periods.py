"""Billing periods on the calendar, anchored so that short months do not drift the cycle.

A subscription anchored on Jan 31 renews Feb 28 (29), Mar 31, Apr 30, ...: each end
is the anchor plus a whole number of intervals, clamped to the month's last day.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from enum import StrEnum


class Interval(StrEnum):
    MONTH = "MONTH"
    YEAR = "YEAR"

    @property
    def months(self) -> int:
        return 1 if self is Interval.MONTH else 12


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_period_end(anchor: datetime, period_start: datetime, interval: Interval) -> datetime:
    """The first anchor-aligned boundary strictly after `period_start`."""
    step = interval.months
    elapsed = (period_start.year - anchor.year) * 12 + (period_start.month - anchor.month)
    count = max(elapsed // step, 0)
    end = add_months(anchor, count * step)
    while end <= period_start:
        count += 1
        end = add_months(anchor, count * step)
    return end
