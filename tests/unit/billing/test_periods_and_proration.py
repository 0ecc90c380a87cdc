from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.billing.proration import prorate
from services.pricing.periods import Interval, add_months, next_period_end

JAN31 = datetime(2027, 1, 31, 8, 0, tzinfo=UTC)


def test_a_cycle_anchored_on_the_31st_does_not_drift():
    ends = []
    start = JAN31
    for _ in range(4):
        start = next_period_end(JAN31, start, Interval.MONTH)
        ends.append(start.date().isoformat())
    assert ends == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]


def test_leap_day_yearly_anchor():
    anchor = datetime(2028, 2, 29, tzinfo=UTC)
    assert next_period_end(anchor, anchor, Interval.YEAR) == datetime(2029, 2, 28, tzinfo=UTC)
    assert add_months(anchor, 48) == datetime(2032, 2, 29, tzinfo=UTC)


def test_proration_to_the_second_rounds_half_up():
    start = datetime(2026, 4, 1, tzinfo=UTC)
    end = datetime(2026, 5, 1, tzinfo=UTC)  # 30 days
    halfway = start + timedelta(days=15)
    result = prorate(499, 999, start, end, halfway)
    assert result.credit_cents == 250  # 249.5 rounds up
    assert result.charge_cents == 500  # 499.5 rounds up
    assert result.amount_due_cents == 250


def test_upgrade_at_period_start_costs_the_difference_and_at_the_end_nothing():
    start = datetime(2026, 4, 1, tzinfo=UTC)
    end = datetime(2026, 5, 1, tzinfo=UTC)
    assert prorate(499, 999, start, end, start).amount_due_cents == 500
    assert prorate(499, 999, start, end, end).amount_due_cents == 0


@given(
    old=st.integers(0, 10_000_000),
    new=st.integers(0, 10_000_000),
    length=st.integers(1, 400 * 86400),
    elapsed=st.integers(0, 400 * 86400),
)
def test_proration_lines_stay_within_their_prices(old, new, length, elapsed):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=length)
    result = prorate(old, new, start, end, start + timedelta(seconds=min(elapsed, length)))
    assert 0 <= result.credit_cents <= old
    assert 0 <= result.charge_cents <= new
    assert result.amount_due_cents == max(result.charge_cents - result.credit_cents, 0)
    if new >= old:
        assert result.charge_cents >= result.credit_cents


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(0, 600),
)
def test_add_months_lands_on_the_same_day_or_the_months_last(moment, months):
    moved = add_months(moment, months)
    index = moment.year * 12 + moment.month - 1 + months
    assert (moved.year * 12 + moved.month - 1) == index
    last_day = calendar.monthrange(moved.year, moved.month)[1]
    assert moved.day == min(moment.day, last_day)
    assert moved.time() == moment.time()


def test_a_two_week_period_adds_exactly_fourteen_days_across_month_ends_and_a_leap_day():
    anchor = datetime(2028, 2, 22, 9, 30, tzinfo=UTC)  # 2028 is a leap year
    ends, start = [], anchor
    for _ in range(4):
        start = next_period_end(anchor, start, Interval.WEEK, 2)
        ends.append(start)
    assert [e.date().isoformat() for e in ends] == [
        "2028-03-07",  # across 29 February
        "2028-03-21",
        "2028-04-04",
        "2028-04-18",
    ]
    # A late renewal continues the cycle from the anchor, not from the late moment.
    late = next_period_end(anchor, ends[1] + timedelta(days=3), Interval.WEEK, 2)
    assert late == ends[2]


def test_a_quarterly_period_keeps_the_anchor_day_clamped_to_short_months():
    anchor = datetime(2027, 11, 30, tzinfo=UTC)
    ends, start = [], anchor
    for _ in range(5):
        start = next_period_end(anchor, start, Interval.MONTH, 3)
        ends.append(start.date().isoformat())
    # Feb 2028 has 29 days; May, Aug and Nov have the 30th again.
    assert ends == ["2028-02-29", "2028-05-30", "2028-08-30", "2028-11-30", "2029-02-28"]


def test_daily_and_eighteen_month_periods():
    anchor = datetime(2027, 1, 31, tzinfo=UTC)
    assert next_period_end(anchor, anchor, Interval.DAY, 3) == anchor + timedelta(days=3)
    assert next_period_end(anchor, anchor, Interval.MONTH, 18).date().isoformat() == "2028-07-31"
    assert next_period_end(anchor, anchor - timedelta(days=1), Interval.WEEK) == anchor


@given(
    count=st.integers(1, 36),
    unit=st.sampled_from(list(Interval)),
    offset_days=st.integers(0, 4000),
)
def test_a_period_end_is_after_its_start_and_at_most_one_period_away(count, unit, offset_days):
    anchor = datetime(2027, 1, 31, 12, tzinfo=UTC)
    start = anchor + timedelta(days=offset_days)
    end = next_period_end(anchor, start, unit, count)
    assert end > start
    longest = (
        timedelta(days=unit.days * count) if unit.days else timedelta(days=31 * unit.months * count)
    )
    assert end - start <= longest
