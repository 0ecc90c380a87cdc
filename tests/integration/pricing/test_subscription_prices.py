"""Each subscription's own price on real PostgreSQL over the test clock: a price change
keeps current subscribers on theirs (grandfathered) while new ones pay the new price;
MOVE_AT moves them on their first invoice on or after the date, and not before, with
notice (PRICE_NOTICE_DAYS) and an event each; the admin's note never replaces the
plan's public description."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import jsonschema
import pytest

from services.collection import scheduler, upcoming
from services.common.errors import DomainError, ErrorCode
from services.pricing import catalog, customer_prices
from services.pricing.rules import ExistingSubscribers
from services.reads import queries
from services.subscriptions import checkout, interruptions, plan_changes
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema

DAY = timedelta(days=1)


async def paid_premium(deps, user: str, price: int = 999) -> None:  # type: ignore[no-untyped-def]
    """An ACTIVE premium subscriber who paid the plan's price (their trial used first)."""
    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    await interruptions.cancel(deps, interruptions.CancelSubscription(user, at_period_end=False))
    paid = await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    assert paid.payment is not None and paid.payment.amount_cents == price


async def renewals(deps, user: str) -> list[int]:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps,
        "SELECT json_agg(amount_cents ORDER BY period_start) FROM payments"
        " WHERE owner_id = :u AND purpose IN ('RENEWAL', 'TRIAL_CONVERSION')",
        u=user,
    )
    return list(found or [])  # type: ignore[call-overload]


async def renew_until(deps, clock, user: str, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(count):
        view = await queries.subscription_of(deps, user)
        assert view is not None and view.current_period_end is not None
        clock.moment = view.current_period_end
        await scheduler.run_due_work(deps)


def move(price: int, at, note: str | None = None) -> catalog.SetPlanPrice:  # type: ignore[no-untyped-def]
    return catalog.SetPlanPrice(
        "premium",
        price,
        "USD",
        note=note,
        existing_subscribers=ExistingSubscribers.MOVE_AT,
        move_at=at,
    )


async def test_a_grandfathered_subscriber_renews_at_the_old_price_and_a_new_one_pays_the_new(
    deps, clock
):
    await paid_premium(deps, "old-timer")
    description = await scalar(deps, "SELECT description FROM plans WHERE code = 'premium'")
    await catalog.set_plan_price(
        deps, "root", catalog.SetPlanPrice("premium", 1299, "USD", note="costs went up")
    )
    await paid_premium(deps, "newcomer", 1299)
    await renew_until(deps, clock, "old-timer", 3)
    await renew_until(deps, clock, "newcomer", 2)
    kept_renewals, new_renewals = (
        await renewals(deps, "old-timer"),
        await renewals(deps, "newcomer"),
    )
    assert len(kept_renewals) >= 3 and set(kept_renewals) == {999}
    assert len(new_renewals) >= 2 and set(new_renewals) == {1299}
    kept = await queries.subscription_of(deps, "old-timer")
    assert kept is not None and kept.price_cents == 999 and kept.scheduled_price_change is None
    history = await catalog.pricing_history(deps, "premium")
    change = next(r for r in history if r.price_cents == 1299)
    assert (change.note, change.existing_subscribers.value) == ("costs went up", "KEEP_PRICE")
    # The note is the admin's reason in the history: the public description is untouched.
    assert await scalar(deps, "SELECT description FROM plans WHERE code = 'premium'") == description


async def test_move_at_charges_the_first_invoice_on_or_after_the_date_and_not_before(deps, clock):
    await paid_premium(deps, "mover")
    first = await queries.subscription_of(deps, "mover")
    assert first is not None and first.current_period_end is not None
    moment = first.current_period_end + 10 * DAY  # between the first and second renewal
    await catalog.set_plan_price(deps, "root", move(1499, moment, note="new features"))
    view = await queries.subscription_of(deps, "mover")
    assert view is not None and view.price_cents == 999
    change = view.scheduled_price_change
    assert change is not None and change.price_cents == 1499
    assert change.effective_at >= moment  # the second renewal: the first on or after
    assert (await upcoming.upcoming_invoice(deps, "mover")).total_cents == 999  # type: ignore[union-attr]
    await renew_until(deps, clock, "mover", 1)
    assert await renewals(deps, "mover") == [999]
    due = await queries.subscription_of(deps, "mover")
    assert due is not None and due.current_period_start is not None
    assert due.current_period_start < moment <= due.current_period_end  # type: ignore[operator]
    assert due.price_cents == 1499 and due.scheduled_price_change is None
    assert due.current_period_end == change.effective_at
    await renew_until(deps, clock, "mover", 2)
    assert await renewals(deps, "mover") == [999, 1499, 1499]
    events = await scalar(
        deps,
        "SELECT json_agg(envelope) FROM outbox"
        " WHERE event_type = 'subscription.price_change_scheduled'",
    )
    assert len(events) == 1  # type: ignore[arg-type]
    envelope = events[0]  # type: ignore[index]
    jsonschema.validate(envelope, schema("subscription.price_change_scheduled"))
    assert envelope["data"]["priceCents"] == 1499
    assert envelope["data"]["previousPriceCents"] == 999


async def test_a_trial_moved_to_a_new_price_converts_at_it(deps, clock):
    started = await checkout.subscribe(
        deps, checkout.Subscribe("trialist", "premium", "pm_card_visa")
    )
    assert started.subscription is not None and started.subscription.trial_end is not None
    await catalog.set_plan_price(deps, "root", move(1199, clock.now()))
    clock.moment = started.subscription.trial_end
    await scheduler.run_due_work(deps)
    assert await renewals(deps, "trialist") == [1199]


async def test_a_move_needs_its_notice_and_changes_nothing_when_refused(deps, clock):
    await paid_premium(deps, "noticed")
    with_notice = dataclasses.replace(
        deps, settings=deps.settings.model_copy(update={"price_notice_days": 30})
    )
    for moment in (None, clock.now() + 29 * DAY):
        with pytest.raises(DomainError) as refused:
            await catalog.set_plan_price(with_notice, "root", move(1499, moment))
        assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "moveAt")
    with pytest.raises(DomainError) as stray:
        await catalog.set_plan_price(
            with_notice,
            "root",
            catalog.SetPlanPrice("premium", 1499, "USD", move_at=clock.now() + 40 * DAY),
        )
    assert stray.value.field == "moveAt"
    assert await scalar(deps, "SELECT price_cents FROM plans WHERE code = 'premium'") == 999
    assert (
        await scalar(
            deps, "SELECT count(*) FROM subscriptions WHERE scheduled_price_at IS NOT NULL"
        )
        == 0
    )
    await catalog.set_plan_price(with_notice, "root", move(1499, clock.now() + 30 * DAY))
    view = await queries.subscription_of(deps, "noticed")
    assert view is not None and view.current_period_end is not None
    assert view.current_period_end >= clock.now() + 30 * DAY  # a month: its next invoice
    assert view.price_cents == 1499 and view.scheduled_price_change is None


async def test_a_later_move_replaces_an_earlier_one_that_is_already_due(deps, clock):
    await paid_premium(deps, "twice")
    await catalog.set_plan_price(deps, "root", move(1099, clock.now()))
    clock.advance(5 * DAY)
    await catalog.set_plan_price(deps, "root", move(1399, clock.now() + 60 * DAY))
    view = await queries.subscription_of(deps, "twice")
    assert view is not None and view.price_cents == 1099  # the first move is its price now
    assert view.scheduled_price_change is not None
    assert view.scheduled_price_change.price_cents == 1399


async def test_a_price_preview_counts_who_a_change_reaches_and_what_it_does_to_revenue(deps, clock):
    await paid_premium(deps, "payer-1")
    await paid_premium(deps, "payer-2")
    await checkout.subscribe(deps, checkout.Subscribe("in-trial", "premium", "pm_card_visa"))
    await paid_premium(deps, "leaving")
    await interruptions.cancel(deps, interruptions.CancelSubscription("leaving"))
    preview = await catalog.preview_plan_price(deps, "premium", 1299)
    # Three renew (two paying, one trial); the one cancelled at period end does not.
    assert (preview.subscribers_keeping, preview.subscribers_moving) == (3, 3)
    assert preview.monthly_recurring_delta_cents == 2 * (1299 - 999)
    assert await scalar(deps, "SELECT price_cents FROM plans WHERE code = 'premium'") == 999
    await catalog.set_plan_price(deps, "root", move(1299, clock.now()))
    after = await catalog.preview_plan_price(deps, "premium", 1299)
    assert (after.subscribers_moving, after.monthly_recurring_delta_cents) == (0, 0)


async def test_a_customer_price_wins_until_its_end_then_the_own_price_returns(deps, clock):
    await paid_premium(deps, "vip")
    await paid_premium(deps, "regular")
    first = await queries.subscription_of(deps, "vip")
    assert first is not None and first.current_period_end is not None
    until = first.current_period_end + 40 * DAY  # covers the next two renewals' starts
    await customer_prices.set_customer_price(
        deps, "root", customer_prices.SetCustomerPrice("vip", "premium", 499, until)
    )
    await catalog.set_plan_price(deps, "root", move(1299, clock.now()))  # the override wins
    view = await queries.subscription_of(deps, "vip")
    assert view is not None and view.price_override == (499, until) and view.price_cents == 499
    assert (await upcoming.upcoming_invoice(deps, "vip")).total_cents == 499  # type: ignore[union-attr]
    await renew_until(deps, clock, "vip", 3)
    assert await renewals(deps, "vip") == [499, 499, 1299]  # the third starts after `until`
    assert set(await renewals(deps, "regular")) == {1299}  # the plain path, no override
    await customer_prices.set_customer_price(
        deps, "root", customer_prices.SetCustomerPrice("vip", "premium", 299)
    )
    await customer_prices.remove_customer_price(deps, "vip", "premium")
    with pytest.raises(DomainError) as gone:
        await customer_prices.remove_customer_price(deps, "vip", "premium")
    assert gone.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as past:
        await customer_prices.set_customer_price(
            deps, "root", customer_prices.SetCustomerPrice("vip", "premium", 1, clock.now())
        )
    assert (past.value.code, past.value.field) == (ErrorCode.INVALID_INPUT, "until")


async def test_a_customer_price_applies_to_a_first_payment_and_an_upgrade(deps):
    await customer_prices.set_customer_price(
        deps, "root", customer_prices.SetCustomerPrice("friend", "premium", 500)
    )
    await paid_premium(deps, "friend", 500)
    preview = await checkout.preview_subscribe(deps, "friend-2", "premium", None)
    assert preview.first_charge_cents == 999  # someone else pays the plan's price
    await checkout.subscribe(deps, checkout.Subscribe("climber", "ad-free", "pm_card_visa"))
    await interruptions.cancel(
        deps, interruptions.CancelSubscription("climber", at_period_end=False)
    )
    await checkout.subscribe(deps, checkout.Subscribe("climber", "ad-free", "pm_card_visa"))
    await customer_prices.set_customer_price(
        deps, "root", customer_prices.SetCustomerPrice("climber", "premium", 500)
    )
    upgraded = await plan_changes.upgrade(deps, plan_changes.Upgrade("climber", "premium"))
    assert upgraded.payment is not None
    assert upgraded.payment.amount_cents == 500 - 499  # their premium price, less ad-free's
