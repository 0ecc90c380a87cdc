"""The access cache on a real Redis (our own server, so it can be stopped)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from main import build_cache, build_redis
from services.cache.access_cache import AccessCache, MemoryStore, RedisStore
from services.platform.deps import Deps
from services.pricing import catalog
from services.reads import queries
from services.subscriptions import checkout, interruptions
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def cached(deps: Deps, redis_server) -> Deps:
    if redis_server.process is None:
        redis_server.start()
    settings = deps.settings.model_copy(update={"redis_url": redis_server.url})
    redis = build_redis(settings)
    assert redis is not None
    await redis.flushdb()
    cache = AccessCache(RedisStore(redis, settings.redis_prefix), cool_off_seconds=0.3)
    yield dataclasses.replace(deps, settings=settings, cache=cache)
    await redis.aclose()


async def test_repeated_reads_are_served_from_the_cache(cached):
    await checkout.subscribe(cached, checkout.Subscribe("amy", "premium", "pm_card_visa"))
    first = await queries.entitlements_of(cached, "amy")
    for _ in range(10):
        assert await queries.entitlements_of(cached, "amy") == first
    assert cached.cache.misses == 1 and cached.cache.hits == 10
    assert "premium_content" in first.features


async def test_a_change_invalidates_the_cached_entry(cached):
    await checkout.subscribe(cached, checkout.Subscribe("ben", "premium", "pm_card_visa"))
    assert (await queries.entitlements_of(cached, "ben")).tier == "premium"
    await interruptions.suspend(cached, "root", interruptions.SuspendSubscription("ben"))
    after = await queries.entitlements_of(cached, "ben")
    assert after.tier == "suspended" and after.features == ()


async def test_a_catalog_change_invalidates_everyone(cached):
    await checkout.subscribe(cached, checkout.Subscribe("cat", "premium", "pm_card_visa"))
    assert "ai_coach" in (await queries.entitlements_of(cached, "cat")).features
    await catalog.update_plan(
        cached,
        catalog.UpdatePlan(
            "premium", entitlements=("basic_content", "ad_free"), grace_entitlements=()
        ),
    )
    assert (await queries.entitlements_of(cached, "cat")).features == ("basic_content", "ad_free")


async def test_a_batch_read_takes_its_hits_in_one_read_and_loads_only_its_misses(cached):
    for user in ("gus", "hal", "ida"):
        await checkout.subscribe(cached, checkout.Subscribe(user, "premium", "pm_card_visa"))
    await queries.entitlements_of(cached, "gus")
    await queries.entitlements_of(cached, "hal")
    await interruptions.suspend(cached, "root", interruptions.SuspendSubscription("hal"))
    reads: list[list[str]] = []
    read_many = cached.cache.store.read_many

    async def counted(user_ids):  # type: ignore[no-untyped-def]
        reads.append(list(user_ids))
        return await read_many(user_ids)

    cached.cache.store.read_many = counted
    hits, misses = cached.cache.hits, cached.cache.misses
    users = ["ida", "gus", "hal"]  # never read, cached, changed since it was cached
    batch = await queries.snapshots_of(cached, users)
    assert reads == [users]  # one read: the misses load under the generations it found
    assert (cached.cache.hits - hits, cached.cache.misses - misses) == (1, 2)
    singly = [await queries.snapshot_of(cached, user) for user in users]
    assert batch == singly  # in the users' order, the suspension seen
    now = cached.clock.now()
    tiers = [queries.access_at(u, b, now).tier for u, b in zip(users, batch, strict=True)]
    assert tiers == ["premium", "premium", "suspended"]


async def test_concurrent_misses_for_one_user_read_the_database_once(deps):
    cache = AccessCache(MemoryStore())
    loads = 0

    async def load():  # type: ignore[no-untyped-def]
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return {"free": ["free", []], "sub": None}

    results = await asyncio.gather(*(cache.get("dan", load) for _ in range(50)))
    assert loads == 1 and all(r == results[0] for r in results)


async def test_a_reader_racing_a_writer_cannot_put_an_old_value_back(deps):
    cache = AccessCache(MemoryStore())
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_old_read():  # type: ignore[no-untyped-def]
        started.set()
        await release.wait()
        return {"old": True}

    reader = asyncio.create_task(cache.get("eve", slow_old_read))
    await started.wait()
    await cache.invalidate(["eve"])  # a change committed while the read was in flight
    release.set()
    assert await reader == {"old": True}

    async def fresh():  # type: ignore[no-untyped-def]
        return {"old": False}

    assert await cache.get("eve", fresh) == {"old": False}  # the stale entry was ignored


async def test_with_redis_stopped_the_service_answers_from_postgresql(cached, redis_server):
    await checkout.subscribe(cached, checkout.Subscribe("fay", "premium", "pm_card_visa"))
    assert (await queries.entitlements_of(cached, "fay")).tier == "premium"
    redis_server.stop()
    await interruptions.suspend(cached, "root", interruptions.SuspendSubscription("fay"))
    during = await queries.entitlements_of(cached, "fay")
    assert during.tier == "suspended"  # read from PostgreSQL, not the stale entry
    assert cached.cache.degraded
    redis_server.start()
    await asyncio.sleep(cached.cache.cool_off_seconds)
    after = await queries.entitlements_of(cached, "fay")
    assert after.tier == "suspended"  # the missed invalidation was replayed first


async def test_a_slow_redis_is_treated_as_missing(deps):
    """A server that accepts connections but never answers (a listening socket)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        settings = deps.settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
        slow = dataclasses.replace(
            deps, settings=settings, cache=build_cache(settings, build_redis(settings))
        )
        view = await queries.entitlements_of(slow, "gil")
        assert view.tier == "free"  # answered from PostgreSQL after the read timed out
        assert slow.cache.degraded  # and Redis is skipped for the cool-off
        assert (await queries.entitlements_of(slow, "gil")).tier == "free"
    finally:
        listener.close()
