from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import DomainError, ErrorCode
from services.pricing.periods import Interval
from services.pricing.policy import DEFAULT_POLICY
from services.pricing.rules import check_grace_subset, check_price, normalize_currency
from services.subscriptions import lifecycle
from services.subscriptions.fulfillment import Address, Channel, Fulfillment, validate
from services.subscriptions.lifecycle import PlanTerms, Status
from services.subscriptions.state import PlanFeatures, entitlements_for

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PREMIUM = PlanTerms("premium", 999, "USD", Interval.MONTH, 14, 20)
FEATURES = PlanFeatures("premium", ("ad_free", "premium_content"), ("ad_free",))
FREE = PlanFeatures("free", ("basic_content",), ())


def _active():
    pending = lifecycle.start(PREMIUM, NOW, trial_eligible=False).after
    return lifecycle.payment_succeeded(pending, PREMIUM, 999, NOW).after


def test_no_subscription_means_the_free_plan():
    granted = entitlements_for(None, None, FREE, NOW)
    assert granted.tier == "free" and granted.features == ("basic_content",)


def test_past_due_keeps_only_the_grace_subset_then_falls_to_free():
    state = _active()
    end = state.current_period_end
    past_due = lifecycle.payment_failed(state, end, DEFAULT_POLICY).after
    during = entitlements_for(past_due, FEATURES, FREE, end + timedelta(days=2))
    assert set(during.features) == {"ad_free", "basic_content"}
    assert "premium_content" not in during.features
    after = entitlements_for(past_due, FEATURES, FREE, end + timedelta(days=7))
    assert after.features == ("basic_content",)


def test_cancelled_keeps_the_plan_until_period_end():
    state = lifecycle.cancel(_active(), NOW, at_period_end=True).after
    assert entitlements_for(state, FEATURES, FREE, NOW + timedelta(days=1)).tier == "premium"
    assert entitlements_for(state, FEATURES, FREE, state.current_period_end).tier == "free"


def test_suspended_has_nothing_at_all():
    state = lifecycle.suspend(_active(), NOW).after
    granted = entitlements_for(state, FEATURES, FREE, NOW)
    assert granted.features == () and granted.status is Status.SUSPENDED


@pytest.mark.parametrize("price", [-1, 1.5, True, 10**9])
def test_bad_prices_are_refused(price):
    with pytest.raises(DomainError) as caught:
        check_price(price)
    assert caught.value.code is ErrorCode.INVALID_INPUT


def test_currency_is_normalized_and_unknown_ones_refused():
    assert normalize_currency(" usd ") == "USD"
    with pytest.raises(DomainError) as caught:
        normalize_currency("XYZ")
    assert caught.value.code is ErrorCode.UNSUPPORTED_CURRENCY


def test_grace_entitlements_must_be_a_subset():
    with pytest.raises(DomainError):
        check_grace_subset(("ad_free",), ("ad_free", "ai_coach"))


def test_fulfillment_channels_carry_exactly_what_they_need():
    address = Address("1 Main St", "Lagos", "100001", "NG")
    assert validate(Fulfillment(Channel.SHIPPING, address=address)).address == address
    assert validate(Fulfillment(Channel.PICKUP, store_id="store-12")).store_id == "store-12"
    for bad in (
        Fulfillment(Channel.SHIPPING),
        Fulfillment(Channel.SHIPPING, address=Address("1 Main St", "Lagos", "1", "Nigeria")),
        Fulfillment(Channel.PICKUP),
        Fulfillment(Channel.DIGITAL, store_id="x"),
    ):
        with pytest.raises(DomainError):
            validate(bad)
