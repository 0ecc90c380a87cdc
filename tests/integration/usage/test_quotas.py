"""Meters, plan quotas and counting on real PostgreSQL: exact under concurrency,
idempotent by event id, grace and suspension rules, soft limits' overage."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import jsonschema
import orjson
import pytest

from services.common.errors import DomainError, ErrorCode
from services.subscriptions import checkout, interruptions
from services.usage import metering, meters
from services.usage.group_commit import group_commit
from services.usage.rules import Aggregation, Refusal
from tests.conftest import scalar
from tests.integration.messaging.test_events import (  # noqa: F401  (the broker fixture)
    broker,
    produce,
    run_consumer,
    schema,
    with_own_topics,
)


@pytest.fixture(params=["alone", "grouped"])
async def ai_calls(deps, request):  # type: ignore[no-untyped-def]
    """Each test twice: each call in its own transaction, and in group commits (the
    service's default: services/usage/group_commit.py)."""
    if request.param == "grouped":
        deps.usage_commits = group_commit(deps)
    await meters.create_meter(
        deps,
        meters.CreateMeter("ai.calls", "AI coach calls", "call", Aggregation.COUNT, "ai_coach"),
    )
    await meters.set_plan_quota(deps, meters.SetPlanQuota("premium", "ai.calls", 10, 0, True))
    return deps


def consume(user: str, event: str, quantity: int = 1) -> metering.ConsumeQuota:
    return metering.ConsumeQuota(user, "ai.calls", quantity, event)


async def test_two_hundred_parallel_calls_for_the_last_ten_units_allow_exactly_ten(ai_calls):
    await checkout.subscribe(ai_calls, checkout.Subscribe("amy", "premium", "pm_card_visa"))
    decisions = await asyncio.gather(
        *(metering.consume_quota(ai_calls, consume("amy", f"e{n}")) for n in range(200))
    )
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    assert {d.reason for d in decisions if not d.allowed} == {Refusal.QUOTA_EXHAUSTED}
    assert await scalar(ai_calls, "SELECT used FROM usage_counters WHERE user_id = 'amy'") == 10
    assert sorted(d.remaining for d in allowed) == list(range(10))


async def test_a_replayed_event_answers_as_the_first_time_and_counts_once(ai_calls):
    await checkout.subscribe(ai_calls, checkout.Subscribe("bo", "premium", "pm_card_visa"))
    first = await metering.consume_quota(ai_calls, consume("bo", "same"))
    replays = await asyncio.gather(
        *(metering.consume_quota(ai_calls, consume("bo", "same")) for _ in range(100))
    )
    assert all(r == first for r in replays)
    assert await scalar(ai_calls, "SELECT used FROM usage_counters WHERE user_id = 'bo'") == 1
    assert await scalar(ai_calls, "SELECT count(*) FROM usage_events WHERE user_id = 'bo'") == 1


async def test_the_same_event_id_with_another_body_is_refused(ai_calls):
    await meters.create_meter(
        ai_calls, meters.CreateMeter("tokens", "Tokens", "token", Aggregation.SUM, "ai_coach")
    )
    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "tokens", 1000, 0, True))
    await checkout.subscribe(ai_calls, checkout.Subscribe("cy", "premium", "pm_card_visa"))
    await metering.consume_quota(ai_calls, metering.ConsumeQuota("cy", "tokens", 5, "t1"))
    with pytest.raises(DomainError) as reused:
        await metering.consume_quota(ai_calls, metering.ConsumeQuota("cy", "tokens", 6, "t1"))
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await scalar(ai_calls, "SELECT used FROM usage_counters WHERE user_id = 'cy'") == 5


async def test_no_quota_no_feature_or_suspension_refuse_and_count_nothing(ai_calls, clock):
    free_user = await metering.consume_quota(ai_calls, consume("dee", "f1"))
    assert (free_user.allowed, free_user.reason) == (False, Refusal.FEATURE_NOT_ENTITLED)
    await checkout.subscribe(ai_calls, checkout.Subscribe("eve", "premium", "pm_card_visa"))
    await interruptions.suspend(
        ai_calls, "root", interruptions.SuspendSubscription("eve", "chargeback")
    )
    suspended = await metering.consume_quota(ai_calls, consume("eve", "s1"))
    assert (suspended.allowed, suspended.reason) == (False, Refusal.SUBSCRIPTION_SUSPENDED)
    assert await scalar(ai_calls, "SELECT count(*) FROM usage_counters") == 0
    with pytest.raises(DomainError) as refused:
        await metering.record_usage(ai_calls, metering.RecordUsage("dee", "ai.calls", 1, "r1"))
    assert refused.value.code is ErrorCode.FEATURE_NOT_ENTITLED


async def test_a_soft_limit_counts_past_the_included_units_as_overage(ai_calls):
    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "ai.calls", 2, 25, False))
    await checkout.subscribe(ai_calls, checkout.Subscribe("fay", "premium", "pm_card_visa"))
    for n in range(5):
        decision = await metering.consume_quota(ai_calls, consume("fay", f"o{n}"))
        assert decision.allowed
    [usage] = await metering.usage_of(ai_calls, "fay")
    assert (usage.used, usage.remaining, usage.overage_units, usage.overage_amount_cents) == (
        5,
        0,
        3,
        75,
    )


async def test_usage_resets_with_the_next_billing_period(ai_calls, clock):
    await checkout.subscribe(ai_calls, checkout.Subscribe("gus", "premium", "pm_card_visa"))
    for n in range(10):
        await metering.consume_quota(ai_calls, consume("gus", f"p{n}"))
    assert not (await metering.consume_quota(ai_calls, consume("gus", "p10"))).allowed
    # The trial ends and converts: a new period, a fresh counter.
    from services.collection import scheduler

    clock.advance(timedelta(days=14))
    await scheduler.run_due_work(ai_calls)
    fresh = await metering.consume_quota(ai_calls, consume("gus", "p11"))
    assert fresh.allowed and fresh.remaining == 9


async def test_bad_usage_input_changes_nothing(ai_calls):
    await checkout.subscribe(ai_calls, checkout.Subscribe("hal", "premium", "pm_card_visa"))
    bad = [
        (metering.ConsumeQuota("hal", "nope", 1, "b1"), ErrorCode.METER_NOT_FOUND),
        (metering.ConsumeQuota("hal", "ai.calls", 0, "b2"), ErrorCode.INVALID_INPUT),
        (metering.ConsumeQuota("hal", "ai.calls", 3, "b3"), ErrorCode.INVALID_INPUT),  # COUNT
        (metering.ConsumeQuota("hal", "ai.calls", 1, " "), ErrorCode.INVALID_INPUT),
        (metering.ConsumeQuota("hal", "ai.calls", 1, "e" * 256), ErrorCode.INVALID_INPUT),
    ]
    for command, code in bad:
        with pytest.raises(DomainError) as refused:
            await metering.consume_quota(ai_calls, command)
        assert refused.value.code is code, command
    assert await scalar(ai_calls, "SELECT count(*) FROM usage_events") == 0


async def test_usage_from_kafka_counts_once_and_refusals_go_to_the_dead_letter_topic(
    ai_calls,
    broker,  # noqa: F811
):
    deps = await with_own_topics(ai_calls, broker)
    await checkout.subscribe(deps, checkout.Subscribe("kay", "premium", "pm_card_visa"))

    def usage(event_id: str, meter: str = "ai.calls") -> bytes:
        data = {"userId": "kay", "meterKey": meter, "quantity": 1, "eventId": event_id}
        envelope = {"id": f"m-{event_id}-{meter}", "source": "coach", "type": "usage.recorded"}
        return orjson.dumps({**envelope, "specversion": "1.0", "data": data})

    messages = [usage("k1"), usage("k1"), usage("k2"), usage("k3", meter="unknown")]
    await produce(broker, deps.settings.topic_usage_recorded, messages, b"kay")
    dead: list[dict] = []

    async def one_dead() -> bool:
        return len(dead) >= 1

    await run_consumer(deps, broker, one_dead, dead)
    assert dead[0]["reason"].startswith("refused: METER_NOT_FOUND")
    assert await scalar(deps, "SELECT used FROM usage_counters WHERE user_id = 'kay'") == 2


async def test_overage_is_billed_as_a_usage_line_with_the_renewal(ai_calls, clock):
    from services.collection import scheduler

    await meters.set_plan_quota(ai_calls, meters.SetPlanQuota("premium", "ai.calls", 2, 25, False))
    await checkout.subscribe(ai_calls, checkout.Subscribe("ole", "premium", "pm_card_visa"))
    for n in range(5):
        assert (await metering.consume_quota(ai_calls, consume("ole", f"u{n}"))).allowed
    clock.advance(timedelta(days=14))  # the trial converts: its period's usage is billed
    await scheduler.run_due_work(ai_calls)
    lines = await scalar(
        ai_calls,
        "SELECT json_agg(json_build_array(l.kind, l.amount_cents, l.description) ORDER BY l.position)"
        " FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.user_id = 'ole'",
    )
    assert [(kind, amount) for kind, amount, _ in lines] == [("SUBSCRIPTION", 999), ("USAGE", 75)]
    assert "3 call over the 2 included" in lines[1][2]
    total = await scalar(ai_calls, "SELECT total_cents FROM invoices WHERE user_id = 'ole'")
    paid = await scalar(
        ai_calls,
        "SELECT amount_cents FROM payments WHERE owner_id = 'ole' AND status_literal = 'success'",
    )
    assert total == paid == 1074
    # The new period starts from zero; a hard-limited meter never bills overage.
    [fresh] = await metering.usage_of(ai_calls, "ole")
    assert fresh.used == 0


async def test_thresholds_are_announced_once_per_period_through_the_outbox(ai_calls):
    await checkout.subscribe(ai_calls, checkout.Subscribe("tia", "premium", "pm_card_visa"))
    await asyncio.gather(
        *(metering.consume_quota(ai_calls, consume("tia", f"h{n}")) for n in range(15))
    )
    envelopes = await scalar(
        ai_calls,
        "SELECT json_agg(envelope ORDER BY id) FROM outbox"
        " WHERE event_type = 'usage.threshold_reached'",
    )
    assert [e["data"]["thresholdPercent"] for e in envelopes] == [80, 100]
    assert [e["data"]["used"] for e in envelopes] == [8, 10]
    for envelope in envelopes:
        assert envelope["subject"] == "tia"
        jsonschema.validate(envelope, schema("usage.threshold_reached"))


async def test_the_test_clock_resets_counters_and_bills_overage_at_period_end(ai_calls):
    from services.collection import test_clock

    clocked = dataclasses.replace(
        ai_calls, settings=ai_calls.settings.model_copy(update={"test_clock": True})
    )
    await meters.set_plan_quota(clocked, meters.SetPlanQuota("premium", "ai.calls", 1, 40, False))
    await checkout.subscribe(clocked, checkout.Subscribe("tom", "premium", "pm_card_visa"))
    for n in range(3):
        await metering.consume_quota(clocked, consume("tom", f"c{n}"))
    await test_clock.advance(clocked, 15 * 86_400)  # past the trial's end: it converts
    [usage] = await metering.usage_of(clocked, "tom")
    assert usage.used == 0 and usage.period_start > clocked.clock.now() - timedelta(days=2)
    billed = await scalar(
        clocked,
        "SELECT sum(amount_cents) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id"
        " WHERE i.user_id = 'tom' AND l.kind = 'USAGE'",
    )
    assert billed == 80  # 2 calls over the 1 included, at 40


async def test_a_meter_with_no_feature_is_unlocked_by_any_plan_with_a_quota_on_it(deps):
    await meters.create_meter(
        deps, meters.CreateMeter("exports", "PDF exports", "export", Aggregation.COUNT)
    )
    await checkout.subscribe(deps, checkout.Subscribe("fay", "ad-free", "pm_card_visa"))
    before = await metering.consume_quota(deps, metering.ConsumeQuota("fay", "exports", 1, "x1"))
    assert not before.allowed and before.reason is Refusal.FEATURE_NOT_ENTITLED  # no quota yet
    await meters.set_plan_quota(deps, meters.SetPlanQuota("ad-free", "exports", 2, 0, True))
    decisions = [
        await metering.consume_quota(deps, metering.ConsumeQuota("fay", "exports", 1, f"e{n}"))
        for n in range(3)
    ]
    # No "exports" feature on the plan: the quota alone unlocks the meter.
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[-1].reason is Refusal.QUOTA_EXHAUSTED
    listed = await meters.list_meters(deps)
    assert [m.feature for m in listed if m.key == "exports"] == [None]
