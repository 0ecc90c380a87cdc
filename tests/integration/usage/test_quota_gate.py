"""The Redis check-and-count gate on a Redis of the test's own: exact with it, exact
when it dies in the middle of a burst (PostgreSQL's guarded count takes over), and its
counters rebuilt from PostgreSQL after it comes back empty."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest

from main import build_redis
from services.cache.access_cache import AccessCache, RedisStore
from services.cache.gate import QuotaGate
from services.platform.deps import Deps
from services.subscriptions import checkout
from services.usage import group_commit as usage_group_commit
from services.usage import metering, meters
from services.usage import together as usage_together
from services.usage.group_commit import group_commit
from services.usage.rules import Aggregation
from tests.conftest import scalar
from tests.redis_server import RedisServer

PREFIX = "gate-test"


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["alone", "grouped", "grouped, two statements"])
async def gated(deps, redis_server, request, monkeypatch):  # type: ignore[no-untyped-def]
    if request.param == "grouped, two statements":  # as a big batch is counted
        monkeypatch.setattr(usage_together, "FEW", 0)
    async with _gated(deps, redis_server, grouped=request.param != "alone") as found:
        yield found


@pytest.fixture
async def grouped(deps, redis_server):  # type: ignore[no-untyped-def]
    async with _gated(deps, redis_server, grouped=True) as found:
        yield found


@contextlib.asynccontextmanager
async def _gated(deps: Deps, redis_server: RedisServer, *, grouped: bool) -> AsyncIterator[Deps]:
    redis = build_redis(  # the service's own client, with loose timeouts for a busy CI
        deps.settings.model_copy(update={"redis_url": redis_server.url, "redis_timeout_seconds": 5})
    )
    assert redis is not None
    gate = QuotaGate(redis, PREFIX, cool_off_seconds=0.2)
    cache = AccessCache(RedisStore(redis, PREFIX), cool_off_seconds=0.2)
    gated = dataclasses.replace(deps, quota_gate=gate, cache=cache)
    if grouped:  # calls that arrive together share one transaction
        gated.usage_commits = group_commit(gated)
    await meters.create_meter(
        gated,
        meters.CreateMeter("ai.calls", "AI coach calls", "call", Aggregation.COUNT, "ai_coach"),
    )
    await meters.set_plan_quota(gated, meters.SetPlanQuota("premium", "ai.calls", 30, 0, True))
    try:
        yield gated
    finally:
        await redis.aclose()


def consume(user: str, event: str) -> metering.ConsumeQuota:
    return metering.ConsumeQuota(user, "ai.calls", 1, event)


async def _counter_keys(gate: QuotaGate) -> list[bytes]:
    return [key async for key in gate.redis.scan_iter(f"{PREFIX}:quota:*")]


async def test_two_hundred_parallel_calls_through_the_gate_allow_exactly_the_limit(gated):
    await checkout.subscribe(gated, checkout.Subscribe("amy", "premium", "pm_card_visa"))
    decisions = await asyncio.gather(
        *(metering.consume_quota(gated, consume("amy", f"e{n}")) for n in range(200))
    )
    assert sum(d.allowed for d in decisions) == 30
    assert await scalar(gated, "SELECT used FROM usage_counters WHERE user_id = 'amy'") == 30
    [key] = await _counter_keys(gated.quota_gate)
    assert int(await gated.quota_gate.redis.get(key)) == 30  # Redis agrees with PostgreSQL
    assert await scalar(gated, "SELECT count(*) FROM usage_events WHERE counted") == 30
    if gated.usage_commits is not None:  # the calls were decided in a few shared batches
        assert gated.usage_commits.calls == 200
        assert gated.usage_commits.batches <= 20


async def test_redis_killed_mid_burst_is_still_exact(gated, redis_server, caplog):
    await checkout.subscribe(gated, checkout.Subscribe("bo", "premium", "pm_card_visa"))
    first = [await metering.consume_quota(gated, consume("bo", f"a{n}")) for n in range(12)]
    assert all(d.allowed for d in first)

    async def kill_soon() -> None:
        await asyncio.sleep(0.01)
        await asyncio.to_thread(redis_server.stop)

    burst = asyncio.gather(
        *(metering.consume_quota(gated, consume("bo", f"b{n}")) for n in range(150))
    )
    decisions, _ = await asyncio.gather(burst, kill_soon())
    assert 12 + sum(d.allowed for d in decisions) == 30
    assert await scalar(gated, "SELECT used FROM usage_counters WHERE user_id = 'bo'") == 30
    assert not (await metering.consume_quota(gated, consume("bo", "after"))).allowed
    assert "quota gate unavailable" in caplog.text  # the gate was in use when Redis died


async def test_counters_are_rebuilt_from_postgresql_after_redis_comes_back_empty(
    gated, redis_server
):
    await checkout.subscribe(gated, checkout.Subscribe("cy", "premium", "pm_card_visa"))
    for n in range(4):
        await metering.consume_quota(gated, consume("cy", f"c{n}"))
    redis_server.stop()
    redis_server.start()  # no persistence: every key is gone
    await asyncio.sleep(0.3)  # past the cool-off the failure started
    decision = await metering.consume_quota(gated, consume("cy", "c4"))
    while decision.allowed and not await _counter_keys(gated.quota_gate):
        await asyncio.sleep(0.1)  # still cooling off: PostgreSQL counted it; try the gate again
        decision = await metering.consume_quota(gated, consume("cy", f"c-{decision.used}"))
    assert decision.allowed
    [key] = await _counter_keys(gated.quota_gate)
    used = await scalar(gated, "SELECT used FROM usage_counters WHERE user_id = 'cy'")
    assert int(await gated.quota_gate.redis.get(key)) == used == decision.used
    assert decision.remaining == 30 - used


async def test_a_redis_counter_behind_postgresql_never_grants_past_the_limit(gated):
    """Redis lost counts (a stale key): it allows what PostgreSQL's guard refuses; those
    calls are counted again alone, the key is rebuilt, and exactly the limit is granted."""
    await checkout.subscribe(gated, checkout.Subscribe("dee", "premium", "pm_card_visa"))
    for n in range(25):
        assert (await metering.consume_quota(gated, consume("dee", f"d{n}"))).allowed
    [key] = await _counter_keys(gated.quota_gate)
    await gated.quota_gate.redis.set(key, 0, keepttl=True)  # 25 counts forgotten
    decisions = await asyncio.gather(
        *(metering.consume_quota(gated, consume("dee", f"late{n}")) for n in range(20))
    )
    assert sum(d.allowed for d in decisions) == 5
    assert await scalar(gated, "SELECT used FROM usage_counters WHERE user_id = 'dee'") == 30
    assert await scalar(gated, "SELECT count(*) FROM usage_events WHERE counted") == 30
    assert not (await metering.consume_quota(gated, consume("dee", "after"))).allowed
    [key] = await _counter_keys(gated.quota_gate)
    assert int(await gated.quota_gate.redis.get(key)) == 30  # rebuilt from PostgreSQL


async def test_a_group_commit_that_fails_counts_its_calls_alone(grouped, monkeypatch):
    """A batch's transaction fails (a deadlock, a lost connection): Redis's counts are
    given back, its counter dropped, and every call is counted on its own, exactly."""
    gated = grouped

    async def lost_connection(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the database went away mid-batch")

    monkeypatch.setattr(usage_group_commit, "count_together", lost_connection)
    await checkout.subscribe(gated, checkout.Subscribe("eve", "premium", "pm_card_visa"))
    decisions = await asyncio.gather(
        *(metering.consume_quota(gated, consume("eve", f"f{n}")) for n in range(40))
    )
    assert sum(d.allowed for d in decisions) == 30
    assert await scalar(gated, "SELECT used FROM usage_counters WHERE user_id = 'eve'") == 30
    assert gated.usage_commits is not None and gated.usage_commits.batches >= 1
    # Redis may have been rebuilt while counts were in flight (behind PostgreSQL, never
    # ahead): the next call is refused by PostgreSQL's guard and Redis catches up.
    assert not (await metering.consume_quota(gated, consume("eve", "after"))).allowed
    [key] = await _counter_keys(gated.quota_gate)
    assert int(await gated.quota_gate.redis.get(key)) == 30
