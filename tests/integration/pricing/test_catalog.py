"""Admin plan management and pricing history."""

from __future__ import annotations

import dataclasses

import pytest

from services.common.errors import DomainError, ErrorCode
from services.pricing import catalog
from services.pricing.periods import Interval
from services.pricing.rules import PlanKind
from services.subscriptions import checkout
from tests.conftest import scalar

GOLD = catalog.CreatePlan(
    code="gold",
    name="Gold",
    price_cents=1999,
    currency="usd",
    interval=Interval.YEAR,
    tier_rank=30,
    entitlements=("ad_free", "premium_content", "ai_coach"),
    grace_entitlements=("ad_free",),
)


async def test_create_plan_defaults_to_a_14_day_trial(deps):
    plan = await catalog.create_plan(deps, "admin-1", GOLD)
    assert plan.currency == "USD" and plan.trial_days == 14 and plan.kind is PlanKind.SUBSCRIPTION
    codes = [p.code for p in await catalog.list_plans(deps)]
    assert codes == ["free", "ad-free", "premium", "gold"]


async def test_set_price_keeps_history_and_announces_it(deps, clock):
    view = await catalog.set_plan_price(
        deps, "admin-1", catalog.SetPlanPrice("premium", 1299, "USD", "New premium price")
    )
    assert view.price_cents == 1299
    history = await catalog.pricing_history(deps, "premium")
    assert [(h.price_cents, h.previous_price_cents, h.changed_by) for h in history] == [
        (1299, 999, "admin-1"),
        (999, None, "system"),
    ]
    envelope = await scalar(
        deps, "SELECT envelope FROM outbox WHERE event_type = 'pricing.changed'"
    )
    assert envelope["data"]["priceCents"] == 1299 and envelope["specversion"] == "1.0"


async def test_new_checkouts_pay_the_new_price(deps):
    await catalog.set_plan_price(deps, "admin-1", catalog.SetPlanPrice("ad-free", 599, "USD"))
    await checkout.subscribe(deps, checkout.Subscribe("pia", "ad-free", "pm_card_visa"))
    from services.subscriptions import interruptions

    await interruptions.cancel(deps, interruptions.CancelSubscription("pia", at_period_end=False))
    paid = await checkout.subscribe(deps, checkout.Subscribe("pia", "ad-free"))
    assert paid.payment and paid.payment.amount_cents == 599


async def test_archived_plans_are_not_sold_but_listed_for_admins(deps):
    await catalog.archive_plan(deps, "ad-free")
    assert "ad-free" not in [p.code for p in await catalog.list_plans(deps)]
    assert "ad-free" in [p.code for p in await catalog.list_plans(deps, include_archived=True)]
    with pytest.raises(DomainError) as caught:
        await checkout.subscribe(deps, checkout.Subscribe("quin", "ad-free", "pm_card_visa"))
    assert caught.value.code is ErrorCode.PLAN_ARCHIVED


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (catalog.SetPlanPrice("premium", -1, "USD"), ErrorCode.INVALID_INPUT),
        (catalog.SetPlanPrice("premium", 100, "ZZZ"), ErrorCode.UNSUPPORTED_CURRENCY),
        (catalog.SetPlanPrice("premium", 100, "EUR"), ErrorCode.CURRENCY_MISMATCH),
        (catalog.SetPlanPrice("nope", 100, "USD"), ErrorCode.PLAN_NOT_FOUND),
        (catalog.SetPlanPrice("free", 100, "USD"), ErrorCode.INVALID_INPUT),
    ],
)
async def test_bad_prices_change_nothing(deps, command, code):
    with pytest.raises(DomainError) as caught:
        await catalog.set_plan_price(deps, "admin-1", command)
    assert caught.value.code is code
    assert await scalar(deps, "SELECT price_cents FROM plans WHERE code='premium'") == 999
    assert await scalar(deps, "SELECT count(*) FROM pricing_records") == 3
    assert await scalar(deps, "SELECT count(*) FROM outbox") == 0


async def test_plan_codes_are_unique_and_validated(deps):
    await catalog.create_plan(deps, "admin-1", GOLD)
    with pytest.raises(DomainError) as taken:
        await catalog.create_plan(deps, "admin-1", GOLD)
    assert taken.value.code is ErrorCode.PLAN_CODE_TAKEN
    from dataclasses import replace

    for bad in (
        replace(GOLD, code="Bad Code"),
        replace(GOLD, code="ok", grace_entitlements=("not_in_plan",)),
        replace(GOLD, code="ok2", name=" "),
    ):
        with pytest.raises(DomainError):
            await catalog.create_plan(deps, "admin-1", bad)
    assert await scalar(deps, "SELECT count(*) FROM plans") == 4


async def test_update_plan_changes_only_what_is_given(deps):
    view = await catalog.update_plan(
        deps, catalog.UpdatePlan("premium", name="Premium+", grace_entitlements=("ad_free",))
    )
    assert view.name == "Premium+" and view.grace_entitlements == ("ad_free",)
    assert view.price_cents == 999 and view.tier_rank == 20


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (dataclasses.replace(GOLD, tier_rank=-1), "ranks above the free plan"),
        (dataclasses.replace(GOLD, tier_rank=0), "ranks above the free plan"),
        (dataclasses.replace(GOLD, tier_rank=20), "'premium' already ranks 20"),
        (dataclasses.replace(GOLD, price_cents=0, tier_rank=5), "free plan always ranks 0"),
    ],
)
async def test_tier_ranks_must_order_plans(deps, plan, message):
    with pytest.raises(DomainError) as refused:
        await catalog.create_plan(deps, "admin-1", plan)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "tierRank")
    assert message in refused.value.message
    assert await scalar(deps, "SELECT count(*) FROM plans WHERE code = 'gold'") == 0


async def test_a_rank_can_move_but_not_onto_another_plan_or_below_free(deps):
    await catalog.create_plan(deps, "admin-1", GOLD)
    moved = await catalog.update_plan(deps, catalog.UpdatePlan("gold", tier_rank=40))
    assert moved.tier_rank == 40
    for code, rank in (("gold", 10), ("premium", 0), ("free", 3)):
        with pytest.raises(DomainError) as refused:
            await catalog.update_plan(deps, catalog.UpdatePlan(code, tier_rank=rank))
        assert refused.value.field == "tierRank"
    assert await scalar(deps, "SELECT tier_rank FROM plans WHERE code = 'premium'") == 20


async def test_an_echoed_value_is_truncated(deps):
    with pytest.raises(DomainError) as refused:
        await checkout.subscribe(deps, checkout.Subscribe("tom", "p" * 10_000, "pm_card_visa"))
    assert refused.value.code is ErrorCode.PLAN_NOT_FOUND
    assert len(refused.value.message) <= 200
