"""Pausing and resuming on real PostgreSQL: nothing is charged while paused, the free
tier applies, and billing restarts from the resume date (by the user or the scheduler)."""

from __future__ import annotations

from datetime import timedelta

import jsonschema
import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.reads import queries
from services.subscriptions import checkout, interruptions
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema
from tests.integration.subscriptions.test_checkout import used_trial


async def _active(deps, user: str) -> None:  # type: ignore[no-untyped-def]
    await used_trial(deps, user)
    paid = await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    assert paid.subscription is not None and paid.subscription.status is Status.ACTIVE


async def test_a_paused_subscription_is_not_charged_and_resumes_by_itself(deps, clock):
    await _active(deps, "pia")
    resumes = clock.now() + timedelta(days=45)
    paused = await interruptions.pause(deps, "pia", resumes)
    assert paused.status is Status.PAUSED and paused.resumes_at == resumes
    assert paused.entitlements.tier == "free"
    charges_before = await scalar(deps, "SELECT count(*) FROM payments WHERE owner_id = 'pia'")
    clock.advance(timedelta(days=40))  # past the period end: nothing is due while paused
    await scheduler.run_due_work(deps)
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE owner_id = 'pia'") == (
        charges_before
    )
    assert (await queries.subscription_of(deps, "pia")).status is Status.PAUSED  # type: ignore[union-attr]
    clock.advance(timedelta(days=5))
    await scheduler.run_due_work(deps)
    resumed = await queries.subscription_of(deps, "pia")
    assert resumed is not None and resumed.status is Status.ACTIVE
    assert resumed.current_period_start == resumes  # billing restarts from the resume date
    # The paid time left at the pause was credited, and the resumed period spends it.
    renewal = await scalar(
        deps,
        "SELECT json_build_array(p.purpose, i.total_cents, p.status_literal,"
        " (SELECT json_agg(l.kind ORDER BY l.position) FROM invoice_lines l"
        "  WHERE l.invoice_id = i.id))"
        " FROM payments p JOIN invoices i ON i.id = p.invoice_id"
        " WHERE p.owner_id = 'pia' ORDER BY p.created_at DESC LIMIT 1",
    )
    assert renewal == ["RENEWAL", 0, "success", ["SUBSCRIPTION", "CREDIT"]]
    credit = await scalar(
        deps,
        "SELECT json_agg(json_build_array(kind, amount_cents) ORDER BY id) FROM credit_ledger"
        " WHERE user_id = 'pia'",
    )
    assert credit == [["PRORATION", 999], ["APPLIED", -999]]
    envelopes = await scalar(
        deps,
        "SELECT json_agg(envelope ORDER BY id) FROM outbox"
        " WHERE event_type IN ('subscription.paused', 'subscription.resumed')",
    )
    assert [e["type"] for e in envelopes] == ["subscription.paused", "subscription.resumed"]
    for envelope in envelopes:
        jsonschema.validate(envelope, schema(envelope["type"]))


async def test_resume_subscription_restarts_billing_now(deps, clock):
    await _active(deps, "quin")
    await interruptions.pause(deps, "quin", clock.now() + timedelta(days=30))
    clock.advance(timedelta(days=3))
    resumed = await interruptions.resume(deps, "quin")
    assert resumed.status is Status.ACTIVE and resumed.current_period_start == clock.now()
    await scheduler.run_due_work(deps)
    sub = await queries.subscription_of(deps, "quin")
    assert sub is not None and sub.current_period_end == clock.now() + timedelta(days=31)
    history = await scalar(
        deps,
        "SELECT array_agg(reason ORDER BY id) FROM subscription_history WHERE user_id = 'quin'",
    )
    assert history[-3:] == ["paused", "unpaused", "renewed"]


async def test_only_an_active_subscription_pauses_and_bad_dates_change_nothing(deps, clock):
    await checkout.subscribe(deps, checkout.Subscribe("rae", "premium", "pm_card_visa"))
    with pytest.raises(DomainError) as trialing:
        await interruptions.pause(deps, "rae", clock.now() + timedelta(days=5))
    assert trialing.value.code is ErrorCode.INVALID_TRANSITION
    await _active(deps, "sol")
    for when in (clock.now() - timedelta(days=1), clock.now() + timedelta(days=400)):
        with pytest.raises(DomainError) as bad:
            await interruptions.pause(deps, "sol", when)
        assert bad.value.code is ErrorCode.INVALID_INPUT
    sub = await queries.subscription_of(deps, "sol")
    assert sub is not None and sub.status is Status.ACTIVE
    with pytest.raises(DomainError) as no_subscription:
        await interruptions.pause(deps, "nobody", clock.now() + timedelta(days=5))
    assert no_subscription.value.code is ErrorCode.NO_SUBSCRIPTION
