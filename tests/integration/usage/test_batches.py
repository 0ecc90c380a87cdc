"""Usage recorded in batches: events nothing can refuse are counted together (one
insert, one move per counter), each answered as if counted in order; the rest go one by
one; replays, in the same batch or a concurrent one, count once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from services.common.errors import DomainError, ErrorCode
from services.subscriptions import checkout
from services.usage import meters
from services.usage import together as usage_together
from services.usage.batches import record_usage_batch
from services.usage.counting import QuotaDecision
from services.usage.metering import RecordUsage
from services.usage.rules import Aggregation
from tests.conftest import scalar

USERS = [f"u{n}" for n in range(5)]


@pytest.fixture(autouse=True, params=["two statements", "one statement"])
def statements(request, monkeypatch):  # type: ignore[no-untyped-def]
    """A batch this big goes by two statements; the one a group commit uses must agree."""
    if request.param == "one statement":
        monkeypatch.setattr(usage_together, "FEW", 10**6)


async def _tokens(deps) -> None:  # type: ignore[no-untyped-def]
    await meters.create_meter(
        deps, meters.CreateMeter("tokens", "Tokens", "token", Aggregation.SUM, "ai_coach")
    )
    await meters.set_plan_quota(deps, meters.SetPlanQuota("premium", "tokens", 100, 1, False))
    for user in USERS:
        await checkout.subscribe(deps, checkout.Subscribe(user, "premium", "pm_card_visa"))


def _batch() -> list[RecordUsage]:
    events = [RecordUsage(USERS[n % 5], "tokens", 1 + n % 3, f"t{n}") for n in range(300)]
    return [
        *events,
        events[0],  # a repeat inside the batch
        RecordUsage("u0", "nope", 1, "bad-meter"),
        RecordUsage("u0", "tokens", 0, "bad-quantity"),
        RecordUsage("u1", "tokens", 3, "t1"),  # t1 again with another body
    ]


async def test_a_batch_counts_each_event_once_and_answers_in_order(deps):
    await _tokens(deps)
    batch = _batch()
    outcomes = await record_usage_batch(deps, batch)
    decisions = [o for o in outcomes[:300] if isinstance(o, QuotaDecision)]
    assert len(decisions) == 300 and all(d.allowed for d in decisions)
    expected = Counter()
    for command in batch[:300]:
        expected[command.user_id] += command.quantity
    counters = await scalar(deps, "SELECT json_object_agg(user_id, used) FROM usage_counters")
    assert counters == dict(expected)
    running: Counter[str] = Counter()
    for command, decided in zip(batch, decisions, strict=False):  # as if counted in order
        running[command.user_id] += command.quantity
        assert decided.used == running[command.user_id]
        assert decided.remaining == max(100 - running[command.user_id], 0)
    repeat, bad_meter, bad_quantity, reused = outcomes[300:]
    assert repeat == outcomes[0]
    assert isinstance(bad_meter, DomainError) and bad_meter.code is ErrorCode.METER_NOT_FOUND
    assert isinstance(bad_quantity, DomainError) and bad_quantity.code is ErrorCode.INVALID_INPUT
    assert isinstance(reused, DomainError) and reused.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    thresholds = await scalar(
        deps,
        "SELECT count(*) FROM outbox WHERE event_type = 'usage.threshold_reached'",
    )
    assert thresholds == 2 * sum(1 for used in expected.values() if used >= 100)


async def test_the_same_batch_twice_at_once_counts_once(deps):
    await _tokens(deps)
    batch = _batch()[:300]
    first, second = await asyncio.gather(
        record_usage_batch(deps, batch), record_usage_batch(deps, batch)
    )
    assert first == second
    total = await scalar(deps, "SELECT sum(used) FROM usage_counters")
    assert total == sum(c.quantity for c in batch)
    assert await scalar(deps, "SELECT count(*) FROM usage_events WHERE counted") == 300


async def test_a_batch_half_sent_before_counts_only_its_new_half(deps):
    """The optimistic insert meets known ids: the batch rolls back and runs again with
    the lookup; the known half is answered as it was, the new half counted once."""
    await _tokens(deps)
    events = _batch()[:300]
    first = await record_usage_batch(deps, events[:150])
    again = await record_usage_batch(deps, events[100:])
    assert again[:50] == first[100:]
    assert all(isinstance(o, QuotaDecision) and o.allowed for o in again[50:])
    total = await scalar(deps, "SELECT sum(used) FROM usage_counters")
    assert total == sum(c.quantity for c in events)
    assert await scalar(deps, "SELECT count(*) FROM usage_events WHERE counted") == 300
