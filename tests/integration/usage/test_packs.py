"""Quota packs on real PostgreSQL: bought once through the gateway, drawn after the
included units and before overage, exact under concurrency, expiring, and the final
usage of a cancelled subscription billed at its period end."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jsonschema
import pytest

from services.collection import scheduler
from services.common.errors import DomainError, ErrorCode
from services.pricing import catalog
from services.pricing.periods import Interval
from services.pricing.rules import PlanKind
from services.subscriptions import checkout, interruptions
from services.usage import metering, meters, packs
from services.usage.rules import Aggregation, PackStatus, Refusal
from tests.conftest import scalar
from tests.integration.messaging.test_events import schema


async def _pack_plan(deps, code: str, units: int, price: int = 500, valid_days=None) -> None:  # type: ignore[no-untyped-def]
    await catalog.create_plan(
        deps,
        "root",
        catalog.CreatePlan(
            code=code,
            name=f"{units} AI calls",
            price_cents=price,
            currency="USD",
            interval=Interval.MONTH,
            tier_rank=100 + units,
            kind=PlanKind.QUOTA,
            valid_days=valid_days,
        ),
    )
    await meters.set_plan_quota(deps, meters.SetPlanQuota(code, "ai.calls", units, 0, False))


@pytest.fixture
async def ai_calls(deps):  # type: ignore[no-untyped-def]
    return await ai_calls_fixture(deps)


async def ai_calls_fixture(deps):  # type: ignore[no-untyped-def]
    await meters.create_meter(
        deps,
        meters.CreateMeter("ai.calls", "AI coach calls", "call", Aggregation.COUNT, "ai_coach"),
    )
    await meters.set_plan_quota(deps, meters.SetPlanQuota("premium", "ai.calls", 10, 25, True))
    await _pack_plan(deps, "calls-5", 5)
    return deps


def consume(user: str, event: str) -> metering.ConsumeQuota:
    return metering.ConsumeQuota(user, "ai.calls", 1, event)


async def _subscriber_with_pack(deps, user: str, plan: str = "calls-5") -> packs.PackPurchase:  # type: ignore[no-untyped-def]
    await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))
    return await packs.purchase_quota_pack(
        deps, packs.PurchaseQuotaPack(user, plan, idempotency_key=f"{user}-pack")
    )


async def test_a_paid_pack_adds_its_units_after_the_included_ones_exactly_under_concurrency(
    ai_calls,
):
    bought = await _subscriber_with_pack(ai_calls, "amy")
    assert bought.pack is not None and bought.pack.status is PackStatus.ACTIVE
    assert bought.payment is not None and bought.payment.amount_cents == 500
    decisions = await asyncio.gather(
        *(metering.consume_quota(ai_calls, consume("amy", f"e{n}")) for n in range(60))
    )
    assert sum(d.allowed for d in decisions) == 15  # 10 included + 5 from the pack
    assert {d.reason for d in decisions if not d.allowed} == {Refusal.QUOTA_EXHAUSTED}
    counter = await scalar(
        ai_calls, "SELECT json_build_array(used, pack_units) FROM usage_counters"
    )
    assert counter == [15, 5]
    assert await scalar(ai_calls, "SELECT used_units FROM quota_pack_units") == 5
    [usage] = await metering.usage_of(ai_calls, "amy")
    assert (usage.used, usage.pack_units_remaining, usage.remaining) == (15, 0, 0)


async def test_the_purchase_is_invoiced_announced_and_replayed_by_its_key(ai_calls):
    first = await _subscriber_with_pack(ai_calls, "bo")
    again = await packs.purchase_quota_pack(
        ai_calls, packs.PurchaseQuotaPack("bo", "calls-5", idempotency_key="bo-pack")
    )
    assert first.pack is not None and again.pack is not None and again.pack.id == first.pack.id
    assert await scalar(ai_calls, "SELECT count(*) FROM payments WHERE purpose = 'QUOTA_PACK'") == 1
    invoice = await scalar(
        ai_calls,
        "SELECT json_build_array(i.status, i.total_cents, l.kind, i.subscription_id IS NULL)"
        " FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id"
        " WHERE i.quota_pack_id IS NOT NULL",
    )
    assert invoice == ["PAID", 500, "QUOTA_PACK", True]
    envelopes = await scalar(
        ai_calls,
        "SELECT json_agg(envelope) FROM outbox WHERE event_type = 'quota_pack.purchased'",
    )
    assert len(envelopes) == 1
    jsonschema.validate(envelopes[0], schema("quota_pack.purchased"))
    assert envelopes[0]["data"]["units"] == [{"meterKey": "ai.calls", "units": 5}]


async def test_a_declined_pack_adds_nothing_and_bad_purchases_change_nothing(ai_calls):
    await checkout.subscribe(ai_calls, checkout.Subscribe("cy", "premium", "pm_card_visa"))
    declined = await packs.purchase_quota_pack(
        ai_calls, packs.PurchaseQuotaPack("cy", "calls-5", "pm_card_chargeDeclined")
    )
    assert declined.pack is not None and declined.pack.status is PackStatus.FAILED
    assert [e.code for e in declined.errors] == [ErrorCode.PAYMENT_DECLINED]
    assert (
        await scalar(ai_calls, "SELECT status FROM invoices WHERE quota_pack_id IS NOT NULL")
        == "VOID"
    )
    for plan, code in (
        ("premium", ErrorCode.PLAN_NOT_PURCHASABLE),
        ("nope", ErrorCode.PLAN_NOT_FOUND),
    ):
        with pytest.raises(DomainError) as refused:
            await packs.purchase_quota_pack(ai_calls, packs.PurchaseQuotaPack("cy", plan))
        assert refused.value.code is code
    with pytest.raises(DomainError) as not_a_subscription:
        await checkout.subscribe(ai_calls, checkout.Subscribe("dee", "calls-5", "pm_card_visa"))
    assert not_a_subscription.value.code is ErrorCode.PLAN_NOT_PURCHASABLE
    with pytest.raises(DomainError) as bad_days:
        await catalog.update_plan(ai_calls, catalog.UpdatePlan("premium", valid_days=30))
    assert bad_days.value.code is ErrorCode.INVALID_INPUT
    assert await scalar(ai_calls, "SELECT count(*) FROM quota_packs WHERE status = 'ACTIVE'") == 0
    decisions = [await metering.consume_quota(ai_calls, consume("cy", f"c{n}")) for n in range(11)]
    assert sum(d.allowed for d in decisions) == 10  # the failed pack gave nothing


async def test_an_expired_pack_no_longer_counts(ai_calls, clock):
    await _pack_plan(ai_calls, "calls-3-day", 3, valid_days=1)
    await _subscriber_with_pack(ai_calls, "eve", "calls-3-day")
    clock.advance(timedelta(days=2))
    decisions = [await metering.consume_quota(ai_calls, consume("eve", f"x{n}")) for n in range(12)]
    assert sum(d.allowed for d in decisions) == 10
    [usage] = await metering.usage_of(ai_calls, "eve")
    assert usage.pack_units_remaining == 0


async def test_soft_limits_draw_packs_before_billing_overage(ai_calls, clock):
    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "ai.calls", 2, 25, False))
    await _subscriber_with_pack(ai_calls, "fay")  # 5 pack units
    for n in range(9):  # 2 included, 5 from the pack, 2 over
        assert (await metering.consume_quota(ai_calls, consume("fay", f"s{n}"))).allowed
    [usage] = await metering.usage_of(ai_calls, "fay")
    assert (usage.overage_units, usage.overage_amount_cents, usage.pack_units_remaining) == (
        2,
        50,
        0,
    )
    clock.advance(timedelta(days=14))
    await scheduler.run_due_work(ai_calls)
    usage_line = await scalar(
        ai_calls,
        "SELECT l.amount_cents FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
        " WHERE i.user_id = 'fay' AND l.kind = 'USAGE'",
    )
    assert usage_line == 50


async def test_a_cancelled_subscriptions_last_overage_is_invoiced_at_period_end(ai_calls, clock):
    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "ai.calls", 2, 25, False))
    await checkout.subscribe(ai_calls, checkout.Subscribe("gil", "premium", "pm_card_visa"))
    clock.advance(timedelta(days=14))
    await scheduler.run_due_work(ai_calls)  # the trial converts: a paid period starts
    for n in range(6):
        assert (await metering.consume_quota(ai_calls, consume("gil", f"g{n}"))).allowed
    await interruptions.cancel(
        ai_calls, interruptions.CancelSubscription("gil", at_period_end=True)
    )
    clock.advance(timedelta(days=31))
    await scheduler.run_due_work(ai_calls)
    final = await scalar(
        ai_calls,
        "SELECT json_build_array(p.purpose, p.amount_cents, p.status_literal, i.status)"
        " FROM payments p JOIN invoices i ON i.id = p.invoice_id"
        " WHERE p.owner_id = 'gil' AND p.purpose = 'FINAL_USAGE'",
    )
    assert final == ["FINAL_USAGE", 100, "success", "PAID"]  # 4 over at 25
    assert await scalar(ai_calls, "SELECT status FROM subscriptions WHERE user_id = 'gil'") == (
        "EXPIRED"
    )
    await scheduler.run_due_work(ai_calls)  # nothing is billed twice
    assert (
        await scalar(ai_calls, "SELECT count(*) FROM payments WHERE purpose = 'FINAL_USAGE'") == 1
    )


async def test_late_usage_lands_in_its_period_until_that_period_is_invoiced(ai_calls, clock):
    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "ai.calls", 2, 25, False))
    await checkout.subscribe(ai_calls, checkout.Subscribe("hal", "premium", "pm_card_visa"))
    during_trial = clock.now() + timedelta(days=1)
    clock.advance(timedelta(days=14, hours=1))  # the trial ended; not yet renewed
    late = metering.RecordUsage("hal", "ai.calls", 1, "late-1", during_trial)
    assert (await metering.record_usage(ai_calls, late)).allowed
    await scheduler.run_due_work(ai_calls)  # the trial's period is invoiced
    too_late = metering.RecordUsage("hal", "ai.calls", 1, "late-2", during_trial)
    with pytest.raises(DomainError) as closed:
        await metering.record_usage(ai_calls, too_late)
    assert closed.value.code is ErrorCode.USAGE_PERIOD_CLOSED
    assert await scalar(ai_calls, "SELECT sum(used) FROM usage_counters") == 1


async def test_a_pack_waiting_for_authentication_is_activated_by_the_processors_report(deps):
    import dataclasses
    from datetime import UTC, datetime

    from services.billing.rules import PaymentStatus
    from services.cache.access_cache import AccessCache, MemoryStore
    from services.collection.payment_results import PaymentResultMessage, apply_payment_result

    # With the access cache, as the API runs: cached terms from before the pack must not hide it.
    ai_calls = await ai_calls_fixture(dataclasses.replace(deps, cache=AccessCache(MemoryStore())))
    await checkout.subscribe(ai_calls, checkout.Subscribe("ivy", "premium", "pm_card_visa"))
    for n in range(10):
        assert (await metering.consume_quota(ai_calls, consume("ivy", f"i{n}"))).allowed
    waiting = await packs.purchase_quota_pack(
        ai_calls, packs.PurchaseQuotaPack("ivy", "calls-5", "pm_card_authenticationRequired")
    )
    assert waiting.pack is not None and waiting.pack.status is PackStatus.PENDING
    assert waiting.payment is not None and waiting.payment.client_secret
    report = PaymentResultMessage(
        source="kafka",
        message_id="pack-paid-1",
        message_type="payment.processed",
        occurred_at=datetime.now(UTC),
        status=PaymentStatus.SUCCESS,
        processor_payment_id=waiting.payment.processor_payment_id,
    )
    await asyncio.gather(*(apply_payment_result(ai_calls, report) for _ in range(5)))
    [pack] = await packs.packs_of(ai_calls, "ivy")
    assert pack.status is PackStatus.ACTIVE and pack.purchased_at is not None
    assert (
        await scalar(
            ai_calls, "SELECT count(*) FROM outbox WHERE event_type = 'quota_pack.purchased'"
        )
        == 1
    )
    decisions = [await metering.consume_quota(ai_calls, consume("ivy", f"v{n}")) for n in range(6)]
    assert sum(d.allowed for d in decisions) == 5  # 10 included were used: 5 from the pack
