"""Billing periods on the calendar, anchored so that short months do not drift the cycle.

A period is `count` intervals long (every 2 weeks, quarterly = MONTH x 3, every 18
months). Each end is the anchor plus a whole number of periods: days and weeks add
exactly; months and years land on the anchor's day, clamped to the month's last day,
so a subscription anchored on Jan 31 renews Feb 28 (29), Mar 31, Apr 30, ...
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import DomainError, ErrorCode

MAX_INTERVAL_COUNT = 36
MONTH_SECONDS = 2629746  # an average month: 365.2425 days / 12


class Interval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"
    YEAR = "YEAR"

    @property
    def months(self) -> int:
        """Calendar months in one interval (0: days and weeks are counted in days)."""
        return _MONTHS[self]

    @property
    def days(self) -> int:
        """Days in one interval of days or weeks (0: months and years are calendar)."""
        return _DAYS[self]


_MONTHS = {Interval.DAY: 0, Interval.WEEK: 0, Interval.MONTH: 1, Interval.YEAR: 12}
_DAYS = {Interval.DAY: 1, Interval.WEEK: 7, Interval.MONTH: 0, Interval.YEAR: 0}


def check_interval_count(count: int) -> None:
    if not 1 <= count <= MAX_INTERVAL_COUNT:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"intervalCount must be 1 to {MAX_INTERVAL_COUNT}",
            "intervalCount",
        )


def monthly_share(cents: int, interval: Interval, count: int = 1) -> int:
    """What an amount charged every `count` intervals comes to per month (half up); days
    and weeks by the average month's length."""
    if interval.months:
        months = interval.months * count
        return (2 * cents + months) // (2 * months)
    period_seconds = interval.days * count * 86400
    return (2 * cents * MONTH_SECONDS + period_seconds) // (2 * period_seconds)


_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    # Not calendar.monthrange: it works out the weekday too, which doubled this cost
    # (a renewal computes two boundaries).
    last_day = 29 if month == 2 and calendar.isleap(year) else _DAYS_IN_MONTH[month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def next_period_end(
    anchor: datetime, period_start: datetime, interval: Interval, count: int = 1
) -> datetime:
    """The first anchor-aligned boundary strictly after `period_start`, periods being
    `count` intervals long."""
    if interval.days:
        length = timedelta(days=interval.days * count)
        if period_start < anchor:
            return anchor
        return anchor + length * ((period_start - anchor) // length + 1)
    step = interval.months * count
    elapsed = (period_start.year - anchor.year) * 12 + (period_start.month - anchor.month)
    count = max(elapsed // step, 0)
    end = add_months(anchor, count * step)
    while end <= period_start:
        count += 1
        end = add_months(anchor, count * step)
    return end
