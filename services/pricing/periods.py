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


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    # Not calendar.monthrange: it works out the weekday too, which doubled this cost
    # (a renewal computes two boundaries).
    last_day = 29 if month == 2 and calendar.isleap(year) else _DAYS_IN_MONTH[month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


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
