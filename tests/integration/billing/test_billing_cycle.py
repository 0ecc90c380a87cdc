"""Renewals, trial conversion, dunning and expiry driven by the clock and the scheduler."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import timedelta

import pytest

from services.billing import payment_methods
from services.collection import scheduler, test_clock
from services.common.errors import DomainError, ErrorCode
from services.gateway.base import ChargeRequest, ChargeResult
from services.platform.clock import OffsetClock
from services.platform.deps import Deps
from services.reads import queries
from services.subscriptions import checkout, plan_changes
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.subscriptions.test_checkout import used_trial

DAY = 86400


@pytest.fixture
def clocked(deps: Deps) -> Deps:
    """The same services with the test clock switched on."""
    return dataclasses.replace(deps, settings=deps.settings.model_copy(update={"test_clock": True}))


async def trialing(deps: Deps, user: str, plan: str = "premium", card: str = "pm_card_visa"):
    result = await checkout.subscribe(deps, checkout.Subscribe(user, plan, card))
    assert result.subscription and result.subscription.status is Status.TRIALING
    return result.subscription


async def history(deps: Deps, user: str) -> list[str]:
    reasons = await scalar(
        deps,
        "SELECT array_agg(reason ORDER BY id) FROM subscription_history WHERE user_id = :user",
        user=user,
    )
    return list(reasons or [])


async def test_a_year_of_monthly_renewals(clocked):
    await trialing(clocked, "yara")
    view = await test_clock.advance(clocked, 365 * DAY)
    assert view.applied >= 12
    reasons = await history(clocked, "yara")
    assert reasons.count("trial_converted") == 1 and reasons.count("renewed") == 11
    page = await queries.invoices_of(clocked, "yara", 100, None)
    invoices = sorted(page.items, key=lambda i: i.number)
    assert [i.number for i in invoices] == [f"INV-{n:08d}" for n in range(1, 13)]
    assert all(i.status.value == "PAID" and i.total_cents == 999 for i in invoices)
    for earlier, later in itertools.pairwise(invoices):
        assert later.period_start == earlier.period_end  # periods chain without gaps
    assert invoices[0].period_end.day == 28  # anchored on Jan 29: February clamps to the 28th
    assert invoices[1].period_end.day == 29  # ...and March is back on the 29th
    sub = await queries.subscription_of(clocked, "yara")
    assert sub and sub.status is Status.ACTIVE and sub.current_period_end > clocked.clock.now()


async def test_trial_converts_with_a_charge_on_day_14(deps, clock):
    sub = await trialing(deps, "zed")
    clock.moment = sub.trial_end
    assert await scheduler.run_due_work(deps) == 1
    after = await queries.subscription_of(deps, "zed")
    assert after and after.status is Status.ACTIVE and after.current_period_start == sub.trial_end
    assert after.price_paid_cents == 999
    assert (await history(deps, "zed"))[-1] == "trial_converted"


async def test_trial_to_past_due_to_active_on_retry(deps, clock):
    sub = await trialing(deps, "abe", card="pm_card_chargeDeclined")
    clock.moment = sub.trial_end
    await scheduler.run_due_work(deps)
    past_due = await queries.subscription_of(deps, "abe")
    assert past_due and past_due.status is Status.PAST_DUE
    assert past_due.grace_expires_at == sub.trial_end + timedelta(days=7)
    assert set(past_due.entitlements.features) == {"basic_content", "ad_free"}
    [invoice] = (await queries.invoices_of(deps, "abe", 10, None)).items
    assert invoice.status.value == "OPEN"

    await payment_methods.add(
        deps, payment_methods.AddPaymentMethod("abe", "pm_card_visa", make_default=True)
    )
    clock.advance(timedelta(days=1))
    await scheduler.run_due_work(deps)
    recovered = await queries.subscription_of(deps, "abe")
    assert recovered and recovered.status is Status.ACTIVE
    assert recovered.current_period_start == sub.trial_end  # the cycle did not shift
    [paid] = (await queries.invoices_of(deps, "abe", 10, None)).items
    assert paid.number == invoice.number and paid.status.value == "PAID"
    assert (await history(deps, "abe"))[-2:] == ["payment_failed", "payment_recovered"]


async def test_grace_runs_out_on_day_eight_after_three_retries(deps, clock):
    sub = await trialing(deps, "bea", card="pm_card_chargeDeclined")
    failed_at = sub.trial_end
    clock.moment = failed_at
    await scheduler.run_due_work(deps)
    for day in (1, 3, 5):
        clock.moment = failed_at + timedelta(days=day)
        await scheduler.run_due_work(deps)
        during = await queries.entitlements_of(deps, "bea")
        assert set(during.features) == {"basic_content", "ad_free"}  # premium locked
    clock.moment = failed_at + timedelta(days=7)
    await scheduler.run_due_work(deps)
    expired = await queries.subscription_of(deps, "bea")
    assert expired and expired.status is Status.EXPIRED
    assert (await queries.entitlements_of(deps, "bea")).features == ("basic_content",)
    attempts = await scalar(deps, "SELECT array_agg(attempt ORDER BY attempt) FROM payments")
    assert attempts == [0, 1, 2, 3]
    assert (await history(deps, "bea"))[-5:] == [
        "payment_failed",
        "payment_retry_failed",
        "payment_retry_failed",
        "payment_retry_failed",
        "grace_period_ended",
    ]
    assert await scalar(deps, "SELECT status FROM invoices") == "UNCOLLECTIBLE"


async def test_downgrade_takes_effect_at_the_renewal(deps, clock):
    sub = await trialing(deps, "cid")
    await plan_changes.downgrade(deps, plan_changes.Downgrade("cid", "ad-free"))
    clock.moment = sub.trial_end
    await scheduler.run_due_work(deps)
    after = await queries.subscription_of(deps, "cid")
    assert after and after.plan.code == "ad-free" and after.pending_plan is None
    assert after.price_paid_cents == 499
    assert "premium_content" not in after.entitlements.features


async def test_a_trial_converts_at_the_price_it_began_with(deps, clock):
    """A price change keeps current subscribers on their price by default (no more "a
    trial that began at 9.99 converted at 12.99"); a new subscriber pays the new one.
    Moving them at a date: tests/integration/pricing/test_subscription_prices.py."""
    from services.pricing import catalog

    kept = await trialing(deps, "dot")
    await catalog.set_plan_price(deps, "root", catalog.SetPlanPrice("premium", 1299, "USD"))
    new = await trialing(deps, "dan")
    clock.moment = max(kept.trial_end, new.trial_end)
    await scheduler.run_due_work(deps)
    charged = await scalar(deps, "SELECT json_object_agg(owner_id, amount_cents) FROM payments")
    assert charged == {"dot": 999, "dan": 1299}


async def test_trial_reminder_is_sent_once_three_days_before(deps, clock):
    sub = await trialing(deps, "eli")
    clock.moment = sub.trial_end - timedelta(days=3)
    await scheduler.run_due_work(deps)
    await scheduler.run_due_work(deps)
    reminders = await scalar(
        deps,
        "SELECT count(*) FROM outbox WHERE envelope->'data'->>'template' = 'trial_ending_soon'",
    )
    assert reminders == 1


async def test_an_abandoned_checkout_fails_after_23_hours(deps, clock):
    await used_trial(deps, "fox")
    await checkout.subscribe(
        deps, checkout.Subscribe("fox", "premium", "pm_card_authenticationRequired")
    )
    clock.advance(timedelta(hours=23))
    await scheduler.run_due_work(deps)
    latest = await queries.subscription_of(deps, "fox")
    assert latest and latest.status is Status.FAILED
    assert (await history(deps, "fox"))[-1] == "checkout_expired"
    assert await scalar(deps, "SELECT status FROM invoices WHERE user_id='fox'") == "VOID"


async def renewing(deps: Deps, clock, count: int) -> None:
    for n in range(count):
        await trialing(deps, f"bulk-{n}")
    clock.advance(timedelta(days=14))


async def test_two_workers_process_each_due_subscription_once(deps, clock, gateway):
    await renewing(deps, clock, 40)
    done = await asyncio.gather(
        scheduler.run_due_work(deps, batch_size=5), scheduler.run_due_work(deps, batch_size=5)
    )
    assert sum(done) == 40 and all(done)  # both workers took a share
    assert gateway.charge_count == 40
    assert await scalar(deps, "SELECT count(*) FROM payments") == 40
    converted = await scalar(
        deps, "SELECT count(*) FROM subscription_history WHERE reason = 'trial_converted'"
    )
    assert converted == 40


class WorkerKilled(Exception):
    pass


class CrashingGateway:
    """Dies (like a killed worker) after a number of successful charges."""

    def __init__(self, inner, charges_before_crash: int) -> None:
        self.inner = inner
        self.platform = inner.platform
        self.left = charges_before_crash

    async def ensure_customer(self, user_id, customer_id):
        return await self.inner.ensure_customer(user_id, customer_id)

    async def attach_payment_method(self, customer_id, payment_method_id):
        return await self.inner.attach_payment_method(customer_id, payment_method_id)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        if self.left == 0:
            raise WorkerKilled("the worker died mid-batch")
        self.left -= 1
        return await self.inner.charge(request)


async def test_a_worker_killed_mid_batch_loses_nothing_and_charges_nobody_twice(
    deps, clock, gateway
):
    await renewing(deps, clock, 10)
    crashing = dataclasses.replace(deps, gateway=CrashingGateway(gateway, 4))
    with pytest.raises(WorkerKilled):
        await scheduler.run_due_work(crashing, batch_size=10)
    assert await scalar(deps, "SELECT count(*) FROM payments") == 0  # the batch rolled back
    assert gateway.charge_count == 4  # ...but the processor had taken four charges
    await scheduler.run_due_work(deps)
    assert await scalar(deps, "SELECT count(*) FROM payments WHERE status_literal='success'") == 10
    assert gateway.charge_count == 10  # the rerun replayed the same keys: no double charge
    renewed_twice = await scalar(
        deps,
        "SELECT count(*) FROM (SELECT order_id FROM payments GROUP BY order_id "
        "HAVING count(*) > 1) twice",
    )
    assert renewed_twice == 0


async def test_an_unreachable_gateway_defers_renewals_without_changing_anything(
    deps, clock, gateway
):
    await renewing(deps, clock, 3)
    gateway.available = False
    assert await scheduler.run_due_work(deps) == 0
    statuses = await scalar(deps, "SELECT array_agg(DISTINCT status) FROM subscriptions")
    assert statuses == ["TRIALING"]
    gateway.available = True
    assert await scheduler.run_due_work(deps) == 0  # each waits out its backoff first
    clock.advance(timedelta(seconds=30))
    assert await scheduler.run_due_work(deps) == 3


async def test_the_test_clock_is_refused_unless_switched_on(deps):
    with pytest.raises(DomainError) as caught:
        await test_clock.advance(deps, DAY)
    assert caught.value.code is ErrorCode.TEST_CLOCK_DISABLED


async def test_the_same_payment_result_delivered_100_times_applies_once(deps):
    from datetime import UTC, datetime

    from services.billing.rules import PaymentStatus
    from services.collection.payment_results import (
        PaymentResultMessage,
        ResultOutcome,
        apply_payment_result,
    )

    await used_trial(deps, "kai")
    pending = await checkout.subscribe(
        deps, checkout.Subscribe("kai", "premium", "pm_card_authenticationRequired")
    )
    assert pending.payment
    message = PaymentResultMessage(
        source="kafka",
        message_id="payment-processed-1",
        message_type="payment.processed",
        occurred_at=datetime.now(UTC),
        status=PaymentStatus.SUCCESS,
        processor_payment_id=pending.payment.processor_payment_id,
    )
    outcomes = await asyncio.gather(*(apply_payment_result(deps, message) for _ in range(100)))
    assert outcomes.count(ResultOutcome.APPLIED) == 1
    assert outcomes.count(ResultOutcome.DUPLICATE) == 99
    sub = await queries.subscription_of(deps, "kai")
    assert sub and sub.status is Status.ACTIVE
    activations = await scalar(
        deps,
        "SELECT count(*) FROM subscription_history WHERE user_id='kai' AND reason='payment_succeeded'",
    )
    assert activations == 1


async def test_distinct_reports_of_one_success_racing_each_other_apply_once(deps):
    """Different message ids (a webhook and a Kafka report, say) for the same payment, at
    once: each transaction must judge the payment as it is once locked, not as read."""
    from datetime import UTC, datetime, timedelta

    from services.billing.rules import PaymentStatus
    from services.collection.payment_results import (
        PaymentResultMessage,
        ResultOutcome,
        apply_payment_result,
    )

    await used_trial(deps, "lia")
    pending = await checkout.subscribe(
        deps, checkout.Subscribe("lia", "premium", "pm_card_authenticationRequired")
    )
    assert pending.payment
    first = datetime.now(UTC)
    messages = [
        PaymentResultMessage(
            source="stripe" if n % 2 else "kafka",
            message_id=f"report-{n}",
            message_type="payment.processed",
            occurred_at=first + timedelta(seconds=n),
            status=PaymentStatus.SUCCESS,
            processor_payment_id=pending.payment.processor_payment_id,
        )
        for n in range(20)
    ]
    outcomes = await asyncio.gather(*(apply_payment_result(deps, m) for m in messages))
    assert outcomes.count(ResultOutcome.APPLIED) == 1
    assert outcomes.count(ResultOutcome.STALE) == 19
    activations = await scalar(
        deps,
        "SELECT count(*) FROM subscription_history WHERE user_id='lia' AND reason='payment_succeeded'",
    )
    assert activations == 1
    paid = await scalar(deps, "SELECT count(*) FROM invoices WHERE user_id='lia' AND status='PAID'")
    assert paid == 1


async def test_the_test_clock_keeps_its_time_across_a_restart(clocked):
    """A process with a system-based test clock advances it; a new process (a restart,
    or a separate worker) takes up the same time from the database."""
    first = dataclasses.replace(clocked, clock=OffsetClock())
    await trialing(first, "tess")
    view = await test_clock.advance(first, 20 * DAY)
    restarted = dataclasses.replace(clocked, clock=OffsetClock())
    assert abs(restarted.clock.now() - view.now) > timedelta(days=19)
    await test_clock.restore_offset(restarted)
    assert abs(restarted.clock.now() - view.now) < timedelta(seconds=5)
    assert test_clock.read(restarted).now >= view.now
    # Restoring never moves a clock back.
    restarted.clock.advance(timedelta(days=3))
    await test_clock.restore_offset(restarted)
    assert restarted.clock.now() - view.now > timedelta(days=2)
