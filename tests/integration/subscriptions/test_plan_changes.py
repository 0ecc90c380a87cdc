"""Upgrades with proration and downgrades scheduled for the period end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.billing import payment_methods
from services.common.errors import DomainError, ErrorCode
from services.reads import queries
from services.subscriptions import checkout, plan_changes
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import counts, used_trial


async def active_on(deps, user: str, plan: str, method: str = "pm_card_visa"):
    await used_trial(deps, user)
    result = await checkout.subscribe(deps, checkout.Subscribe(user, plan, method))
    assert result.subscription and result.subscription.status is Status.ACTIVE
    return result.subscription


async def test_upgrade_mid_period_charges_the_prorated_difference(deps, clock):
    sub = await active_on(deps, "ann", "ad-free")
    assert sub.current_period_start and sub.current_period_end
    clock.advance((sub.current_period_end - sub.current_period_start) / 2)
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("ann", "premium"))
    assert result.errors == ()
    assert result.subscription and result.subscription.plan.code == "premium"
    assert result.subscription.current_period_end == sub.current_period_end
    assert result.payment and result.payment.amount_cents == 250  # (999 - 499) / 2, half up
    page = await queries.invoices_of(deps, "ann", 1, None)
    [invoice] = page.items
    assert [line.kind.value for line in invoice.lines] == ["PRORATION_CREDIT", "PRORATION_CHARGE"]
    assert sum(line.amount_cents for line in invoice.lines) == result.payment.amount_cents
    assert invoice.total_cents == result.payment.amount_cents
    events = await scalar(
        deps, "SELECT count(*) FROM outbox WHERE event_type = 'subscription.upgraded'"
    )
    assert events == 1


async def test_a_declined_upgrade_keeps_the_old_plan(deps, clock):
    await active_on(deps, "ben", "ad-free")
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("ben", "pm_card_chargeDeclined", make_default=True)
    )
    clock.advance(timedelta(days=3))
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("ben", "premium"))
    assert [e.code for e in result.errors] == [ErrorCode.PAYMENT_DECLINED]
    assert result.subscription and result.subscription.plan.code == "ad-free"
    assert (
        await scalar(deps, "SELECT count(*) FROM subscription_history WHERE reason='upgraded'") == 0
    )


async def test_upgrading_a_trial_switches_plan_without_charging(deps, gateway):
    await checkout.subscribe(deps, checkout.Subscribe("cat", "ad-free", "pm_card_visa"))
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("cat", "premium"))
    assert result.subscription and result.subscription.status is Status.TRIALING
    assert result.subscription.plan.code == "premium"
    assert result.payment is None and gateway.charge_count == 0


async def test_downgrade_is_scheduled_not_applied(deps):
    await active_on(deps, "dan", "premium")
    result = await plan_changes.downgrade(deps, plan_changes.Downgrade("dan", "ad-free"))
    assert result.payment is None and result.errors == ()
    view = result.subscription
    assert view is not None
    assert view.plan.code == "premium" and view.pending_plan and view.pending_plan.code == "ad-free"
    assert view.next_charge_plan and view.next_charge_plan.code == "ad-free"
    assert "premium_content" in view.entitlements.features


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda d: plan_changes.upgrade(d, plan_changes.Upgrade("eve", "ad-free")),
            ErrorCode.NOT_AN_UPGRADE,
        ),
        (
            lambda d: plan_changes.upgrade(d, plan_changes.Upgrade("eve", "premium")),
            ErrorCode.INVALID_INPUT,
        ),
        (
            lambda d: plan_changes.downgrade(d, plan_changes.Downgrade("eve", "free")),
            ErrorCode.PLAN_NOT_PURCHASABLE,
        ),
        (
            lambda d: plan_changes.downgrade(d, plan_changes.Downgrade("eve", "gold")),
            ErrorCode.PLAN_NOT_FOUND,
        ),
        (
            lambda d: plan_changes.upgrade(d, plan_changes.Upgrade("nobody", "premium")),
            ErrorCode.NO_SUBSCRIPTION,
        ),
    ],
)
async def test_bad_plan_changes_are_refused_and_change_nothing(deps, call, code):
    await active_on(deps, "eve", "premium")
    before = await counts(deps)
    with pytest.raises(DomainError) as caught:
        await call(deps)
    assert caught.value.code is code
    assert await counts(deps) == before


async def test_an_upgrade_retried_in_the_same_instant_after_a_decline_is_charged(deps, clock):
    """Two attempts in one instant are two charges to the processor, not one key twice
    (the money property test found the collision with a frozen clock)."""
    await active_on(deps, "rita", "ad-free")
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("rita", "pm_card_chargeDeclined", make_default=True)
    )
    clock.advance(timedelta(days=3))
    declined = await plan_changes.upgrade(deps, plan_changes.Upgrade("rita", "premium"))
    assert [e.code for e in declined.errors] == [ErrorCode.PAYMENT_DECLINED]
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("rita", "pm_card_visa", make_default=True)
    )
    paid = await plan_changes.upgrade(deps, plan_changes.Upgrade("rita", "premium"))
    assert paid.errors == () and paid.subscription and paid.subscription.plan.code == "premium"
    keys = await scalar(
        deps,
        "SELECT count(DISTINCT idempotency_key) FROM payments WHERE purpose = 'UPGRADE'",
    )
    assert keys == 2
