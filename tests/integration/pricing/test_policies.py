"""A lifecycle policy per plan, on real PostgreSQL over the test clock: each value
changes what happens (timing, proration, retries, grace and what ends it), the plan
being left decides, a preview shows only what the change will do, and a plan nobody
set a policy on behaves as before (the rest of the suite runs on the defaults)."""

from __future__ import annotations

from datetime import timedelta

import jsonschema
import pytest

from services.billing import payment_methods
from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.pricing import policy_admin
from services.pricing.policy import DEFAULT_POLICY, AfterGrace, ChangeTiming, Proration
from services.reads import queries
from services.subscriptions import interruptions, plan_changes
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.billing.test_billing_cycle import history, trialing
from tests.integration.messaging.test_events import schema
from tests.integration.subscriptions.test_plan_changes import active_on

DAY = timedelta(days=1)


async def policy(deps, plan: str, **values) -> None:  # type: ignore[no-untyped-def]
    await policy_admin.set_plan_policy(deps, policy_admin.SetPlanPolicy(plan, **values))


async def balance(deps, user: str) -> int:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps, "SELECT balance_cents FROM credit_balances WHERE user_id = :u", u=user
    )
    return int(found or 0)  # type: ignore[call-overload]


async def test_a_plan_reads_back_the_defaults_and_a_partial_change_keeps_the_rest(deps):
    [premium] = [p for p in await queries_plans(deps) if p.code == "premium"]
    assert premium.policy == DEFAULT_POLICY
    await policy(deps, "premium", grace_days=10, after_grace=AfterGrace.PAUSE)
    [premium] = [p for p in await queries_plans(deps) if p.code == "premium"]
    assert premium.policy.grace_days == 10 and premium.policy.after_grace is AfterGrace.PAUSE
    assert premium.policy.retry_days == (1, 3, 5)  # left out: kept
    event = await scalar(
        deps,
        "SELECT (envelope->'data'->'policy')::jsonb FROM outbox WHERE event_type = 'plan.updated'"
        " AND envelope->'data'->>'change' = 'policy'",
    )
    assert event["graceDays"] == 10 and event["afterGrace"] == "PAUSE"  # type: ignore[index]


async def queries_plans(deps):  # type: ignore[no-untyped-def]
    from services.pricing import catalog

    return await catalog.list_plans(deps)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"retry_days": (1, 3, 9)}, "retryDays"),  # past the 7-day grace
        ({"retry_days": (3, 1)}, "retryDays"),
        ({"retry_days": (0,)}, "retryDays"),
        ({"grace_days": 61}, "graceDays"),
        ({"grace_days": 2}, "retryDays"),  # the default retries no longer fit
        ({"grace_entitlements": ("premium_content", "gold_bars")}, "graceEntitlements"),
    ],
)
async def test_a_bad_policy_is_refused_and_changes_nothing(deps, values, field):
    with pytest.raises(DomainError) as refused:
        await policy(deps, "premium", **values)
    assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == field
    stored = await scalar(
        deps, "SELECT array[grace_days] || retry_days FROM plans WHERE code = 'premium'"
    )
    assert stored == [7, 1, 3, 5]


async def test_upgrade_at_period_end_charges_nothing_now_and_switches_at_the_renewal(deps, clock):
    sub = await active_on(deps, "pat", "ad-free")
    await policy(deps, "ad-free", upgrade_timing=ChangeTiming.PERIOD_END)
    await policy(deps, "premium", upgrade_timing=ChangeTiming.IMMEDIATE)  # not the one left
    clock.advance(3 * DAY)
    preview = await plan_changes.preview(deps, "pat", "premium")
    assert preview.amount_due_cents == 0 and preview.effective_at == sub.current_period_end
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("pat", "premium"))
    assert result.payment is None and result.errors == ()
    assert result.subscription and result.subscription.plan.code == "ad-free"
    assert result.subscription.pending_plan and result.subscription.pending_plan.code == "premium"
    assert (await history(deps, "pat"))[-1] == "upgrade_scheduled"
    clock.moment = sub.current_period_end
    await scheduler.run_due_work(deps)
    after = await queries.subscription_of(deps, "pat")
    assert after and after.plan.code == "premium" and after.status is Status.ACTIVE
    renewal = await scalar(
        deps, "SELECT amount_cents FROM payments WHERE owner_id = 'pat' AND purpose = 'RENEWAL'"
    )
    assert renewal == 999


async def test_proration_none_switches_now_and_bills_the_new_price_from_the_next_invoice(
    deps, clock
):
    sub = await active_on(deps, "nia", "ad-free")
    await policy(deps, "ad-free", proration=Proration.NONE)
    clock.advance(10 * DAY)
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("nia", "premium"))
    assert result.payment is None and result.errors == ()
    assert result.subscription and result.subscription.plan.code == "premium"
    assert result.subscription.current_period_end == sub.current_period_end
    clock.moment = sub.current_period_end
    await scheduler.run_due_work(deps)
    paid = await scalar(
        deps,
        "SELECT array_agg(amount_cents ORDER BY created_at) FROM payments WHERE owner_id = 'nia'",
    )
    assert paid == [499, 999]


async def test_full_period_charges_the_whole_new_price_and_starts_a_new_period(deps, clock):
    await active_on(deps, "fay", "ad-free")
    await policy(deps, "ad-free", proration=Proration.FULL_PERIOD)
    clock.advance(10 * DAY)
    now = clock.now()
    preview = await plan_changes.preview(deps, "fay", "premium")
    assert preview.amount_due_cents == 999 and [line.kind.value for line in preview.lines] == [
        "SUBSCRIPTION"
    ]
    result = await plan_changes.upgrade(deps, plan_changes.Upgrade("fay", "premium"))
    assert result.payment and result.payment.amount_cents == 999 == preview.amount_due_cents
    view = result.subscription
    assert view and view.plan.code == "premium" and view.current_period_start == now
    assert view.current_period_end == now.replace(month=now.month + 1)
    credit_notes = await scalar(deps, "SELECT count(*) FROM credit_notes")
    assert credit_notes == 0  # no credit for the time left on ad-free


async def test_an_immediate_prorated_downgrade_credits_the_difference_to_the_balance(deps, clock):
    sub = await active_on(deps, "dee", "premium")
    await policy(deps, "premium", downgrade_timing=ChangeTiming.IMMEDIATE)
    assert sub.current_period_start and sub.current_period_end
    clock.advance((sub.current_period_end - sub.current_period_start) / 2)
    preview = await plan_changes.preview(deps, "dee", "ad-free")
    assert preview.amount_due_cents == 0 and preview.credit_cents == 250  # 500 - 250, half up
    result = await plan_changes.downgrade(deps, plan_changes.Downgrade("dee", "ad-free"))
    assert result.payment is None
    assert result.subscription and result.subscription.plan.code == "ad-free"
    assert await balance(deps, "dee") == preview.credit_cents
    named = await scalar(
        deps, "SELECT details FROM subscription_history WHERE reason = 'downgraded'"
    )
    assert named == {"fromPlanCode": "premium", "planCode": "ad-free"}  # the timeline's
    downgraded = await scalar(
        deps, "SELECT envelope::jsonb FROM outbox WHERE event_type = 'subscription.downgraded'"
    )
    jsonschema.validate(downgraded, schema("subscription.downgraded"))
    # The time went back once: cancelling now credits nothing more.
    await interruptions.cancel(deps, interruptions.CancelSubscription("dee", at_period_end=False))
    assert await balance(deps, "dee") == preview.credit_cents


async def test_the_plan_being_left_decides(deps, clock):
    await active_on(deps, "lee", "premium")
    await policy(deps, "ad-free", downgrade_timing=ChangeTiming.IMMEDIATE)  # the target's
    result = await plan_changes.downgrade(deps, plan_changes.Downgrade("lee", "ad-free"))
    assert result.subscription and result.subscription.plan.code == "premium"
    assert result.subscription.pending_plan and result.subscription.pending_plan.code == "ad-free"


async def test_a_preview_refuses_what_the_change_would_refuse(deps, clock):
    await active_on(deps, "cal", "ad-free")
    await interruptions.cancel(deps, interruptions.CancelSubscription("cal", at_period_end=True))
    for call in (
        plan_changes.preview(deps, "cal", "premium"),
        plan_changes.upgrade(deps, plan_changes.Upgrade("cal", "premium")),
    ):
        with pytest.raises(DomainError) as refused:
            await call
        assert refused.value.code is ErrorCode.INVALID_TRANSITION


async def test_retries_and_grace_follow_the_plan_and_grace_can_end_in_a_cancellation(deps, clock):
    await policy(deps, "premium", retry_days=(2,), grace_days=4, after_grace=AfterGrace.CANCEL)
    sub = await trialing(deps, "ray", card="pm_card_chargeDeclined")
    failed_at = sub.trial_end
    clock.moment = failed_at
    await scheduler.run_due_work(deps)
    past_due = await queries.subscription_of(deps, "ray")
    assert past_due and past_due.status is Status.PAST_DUE
    assert past_due.grace_expires_at == failed_at + 4 * DAY
    clock.moment = failed_at + 1 * DAY
    assert await scheduler.run_due_work(deps) == 0  # the default's day-1 retry is gone
    clock.moment = failed_at + 2 * DAY
    assert await scheduler.run_due_work(deps) == 1
    clock.moment = failed_at + 4 * DAY
    await scheduler.run_due_work(deps)
    ended = await queries.subscription_of(deps, "ray")
    assert ended and ended.status is Status.CANCELED and not ended.cancel_at_period_end
    assert not await scalar(deps, "SELECT is_current FROM subscriptions WHERE user_id = 'ray'")
    assert (await queries.entitlements_of(deps, "ray")).features == ("basic_content",)
    assert (await history(deps, "ray"))[-3:] == [
        "payment_failed",
        "payment_retry_failed",
        "grace_cancelled",
    ]
    assert await scalar(deps, "SELECT status FROM invoices") == "UNCOLLECTIBLE"
    assert await scalar(deps, "SELECT count(*) FROM payments") == 2
    cancelled = await scalar(
        deps, "SELECT count(*) FROM outbox WHERE event_type = 'subscription.cancelled'"
    )
    assert cancelled == 1


async def test_grace_can_end_in_a_pause_that_the_customer_resumes(deps, clock):
    await policy(deps, "premium", retry_days=(), grace_days=3, after_grace=AfterGrace.PAUSE)
    sub = await trialing(deps, "pia", card="pm_card_chargeDeclined")
    clock.moment = sub.trial_end
    await scheduler.run_due_work(deps)
    clock.moment = sub.trial_end + 3 * DAY
    await scheduler.run_due_work(deps)
    paused = await queries.subscription_of(deps, "pia")
    assert paused and paused.status is Status.PAUSED and paused.resumes_at is None
    event = await scalar(
        deps, "SELECT envelope::jsonb FROM outbox WHERE event_type = 'subscription.paused'"
    )
    jsonschema.validate(event, schema("subscription.paused"))
    assert await scalar(deps, "SELECT status FROM invoices") == "UNCOLLECTIBLE"
    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("pia", "pm_card_visa", make_default=True)
    )
    await interruptions.resume(deps, "pia")
    await scheduler.run_due_work(deps)
    resumed = await queries.subscription_of(deps, "pia")
    assert resumed and resumed.status is Status.ACTIVE
    assert resumed.current_period_start == clock.now()
