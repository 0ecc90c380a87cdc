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
