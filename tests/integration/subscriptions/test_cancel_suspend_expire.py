"""Cancellation, resumption, suspension and the scheduler's expirations."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.reads import queries
from services.subscriptions import checkout, interruptions
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_plan_changes import active_on


async def test_cancel_at_period_end_keeps_access_until_the_worker_expires_it(deps, clock):
    sub = await active_on(deps, "amy", "premium")
    view = await interruptions.cancel(
        deps, interruptions.CancelSubscription("amy", reason="too pricey")
    )
    assert view.status is Status.CANCELED and view.cancel_at_period_end
    assert view.cancel_reason == "too pricey"
    assert "premium_content" in view.entitlements.features
    clock.moment = sub.current_period_end - timedelta(seconds=1)
    assert await scheduler.run_due_work(deps) == 0
    clock.advance(timedelta(seconds=1))
    assert await scheduler.run_due_work(deps) == 1
    latest = await queries.subscription_of(deps, "amy")
    assert latest and latest.status is Status.EXPIRED and not latest.is_current
    assert (await queries.entitlements_of(deps, "amy")).tier == "free"
    reasons = await scalar(
        deps, "SELECT array_agg(reason ORDER BY id) FROM subscription_history WHERE user_id='amy'"
    )
    assert reasons[-2:] == ["cancelled_at_period_end", "period_ended"]


async def test_resume_before_the_end_restores_active(deps):
    await active_on(deps, "bo", "premium")
    await interruptions.cancel(deps, interruptions.CancelSubscription("bo"))
    view = await interruptions.resume(deps, "bo")
    assert view.status is Status.ACTIVE and not view.cancel_at_period_end
    assert view.cancel_reason is None


async def test_immediate_cancel_drops_to_free_and_allows_a_new_checkout(deps):
    await active_on(deps, "cy", "premium")
    view = await interruptions.cancel(
        deps, interruptions.CancelSubscription("cy", at_period_end=False)
    )
    assert view.status is Status.CANCELED and view.entitlements.tier == "free"
    again = await checkout.subscribe(deps, checkout.Subscribe("cy", "ad-free"))
    assert again.subscription and again.subscription.status is Status.ACTIVE


async def test_invalid_transitions_are_typed_errors(deps):
    await active_on(deps, "di", "premium")
    with pytest.raises(DomainError) as caught:
        await interruptions.resume(deps, "di")
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    with pytest.raises(DomainError) as missing:
        await interruptions.cancel(deps, interruptions.CancelSubscription("nobody"))
    assert missing.value.code is ErrorCode.NO_SUBSCRIPTION


async def test_suspension_revokes_everything_until_reinstated(deps):
    await active_on(deps, "ed", "premium")
    suspended = await interruptions.suspend(
        deps, "admin-1", interruptions.SuspendSubscription("ed", "chargeback")
    )
    assert suspended.status is Status.SUSPENDED and suspended.entitlements.features == ()
    actor = await scalar(
        deps, "SELECT actor FROM subscription_history WHERE reason='suspended' AND user_id='ed'"
    )
    assert actor == "admin-1"
    reinstated = await interruptions.reinstate(deps, "admin-1", "ed")
    assert reinstated.status is Status.ACTIVE
    with pytest.raises(DomainError) as caught:
        await interruptions.reinstate(deps, "admin-1", "ed")
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    with pytest.raises(DomainError) as malformed:
        await interruptions.suspend(deps, "admin-1", interruptions.SuspendSubscription("bad id!"))
    assert malformed.value.code is ErrorCode.INVALID_INPUT


async def test_two_workers_expire_each_due_subscription_once(deps, clock):
    users = [f"user-{n}" for n in range(30)]
    for user in users:
        await active_on(deps, user, "premium")
        await interruptions.cancel(deps, interruptions.CancelSubscription(user))
    clock.advance(timedelta(days=40))
    done = await asyncio.gather(
        scheduler.run_due_work(deps, batch_size=4), scheduler.run_due_work(deps, batch_size=4)
    )
    assert sum(done) == 30
    expiries = await scalar(
        deps, "SELECT count(*) FROM subscription_history WHERE reason = 'period_ended'"
    )
    assert expiries == 30
    events = await scalar(
        deps,
        "SELECT count(*) FROM outbox WHERE event_type = 'subscription.status_changed' "
        "AND envelope->'data'->>'to' = 'EXPIRED'",
    )
    assert events == 30
