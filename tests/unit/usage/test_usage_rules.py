"""Usage rules without a database: periods, access, decisions' arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.errors import DomainError
from services.usage.rules import (
    Aggregation,
    QuotaTerms,
    Refusal,
    access_refusal,
    calendar_month,
    check_meter_key,
    check_quantity,
    check_terms,
    overage_units,
    remaining,
    thresholds_crossed,
    usage_period,
)

HARD = QuotaTerms(100, 0, True)
SOFT = QuotaTerms(100, 5, False)


def test_a_free_users_period_is_the_calendar_month():
    start, end = calendar_month(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def test_a_subscribers_period_is_the_billing_period_it_is_in():
    start, end = datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)
    assert usage_period(start, end, datetime(2026, 4, 1, tzinfo=UTC)) == (start, end)
    # past the period's end (a renewal not yet applied): the calendar month
    assert usage_period(start, end, datetime(2026, 4, 20, tzinfo=UTC))[0].day == 1


def test_access_needs_a_quota_and_the_feature_and_no_suspension():
    features = frozenset({"ai_coach"})
    assert access_refusal(features, False, "ai_coach", HARD) is None
    assert access_refusal(features, False, "ai_coach", None) is Refusal.FEATURE_NOT_ENTITLED
    assert access_refusal(frozenset(), False, "ai_coach", HARD) is Refusal.FEATURE_NOT_ENTITLED
    assert access_refusal(features, True, "ai_coach", HARD) is Refusal.SUBSCRIPTION_SUSPENDED


def test_remaining_and_overage():
    assert (remaining(HARD, 30), overage_units(HARD, 30)) == (70, 0)
    assert (remaining(SOFT, 130), overage_units(SOFT, 130)) == (0, 30)
    unlimited = QuotaTerms(None, 0, False)
    assert (remaining(unlimited, 10**9), overage_units(unlimited, 10**9)) == (None, 0)
    assert HARD.limit() == 100 and SOFT.limit() is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_meter_key("AI Calls"),
        lambda: check_quantity(0, Aggregation.SUM),
        lambda: check_quantity(-3, Aggregation.SUM),
        lambda: check_quantity(2, Aggregation.COUNT),
        lambda: check_quantity(10**9, Aggregation.SUM),
        lambda: check_terms(QuotaTerms(-1, 0, True)),
        lambda: check_terms(QuotaTerms(10, -5, False)),
        lambda: check_terms(QuotaTerms(None, 0, True)),
    ],
)
def test_bad_input_is_refused(call):
    with pytest.raises(DomainError):
        call()


def test_thresholds_are_crossed_once_each():
    terms = QuotaTerms(10, 0, True)
    assert thresholds_crossed(terms, 0, 7) == []
    assert thresholds_crossed(terms, 7, 8) == [80]
    assert thresholds_crossed(terms, 8, 9) == []
    assert thresholds_crossed(terms, 5, 10) == [80, 100]
    assert thresholds_crossed(QuotaTerms(3, 0, True), 2, 3) == [80, 100]  # ceil(2.4) = 3
    assert thresholds_crossed(QuotaTerms(None, 0, False), 0, 10**6) == []
