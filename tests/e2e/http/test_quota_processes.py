"""consumeQuota never over-grants across API processes: two `main.py serve` processes on
one database, 200 parallel calls for the last 10 units."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from redis.asyncio import Redis

from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from tests.conftest import scalar
from tests.e2e.websockets.test_live_processes import start_api
from tests.redis_server import RedisServer

SETUP = [
    'mutation { createMeter(input: {key: "ai.calls", name: "AI calls", unit: "call", '
    'aggregation: COUNT, feature: "ai_coach"}) { errors { code } } }',
    'mutation { setPlanQuota(input: {planCode: "premium", meterKey: "ai.calls", '
    "includedUnits: 10, hardLimit: true}) { errors { code } } }",
    'mutation { subscribe(input: {planCode: "premium", paymentMethodId: "pm_card_visa"}) { errors { code } } }',
]
CONSUME = (
    'mutation($e: String!) { consumeQuota(input: {userId: "root", meterKey: "ai.calls", '
    "eventId: $e}) { allowed } }"
)


async def test_two_hundred_calls_across_two_processes_allow_exactly_ten(deps, settings):
    assert settings.database_url
    a, url_a = start_api(settings.database_url, None)
    b, url_b = start_api(settings.database_url, None)
    now = SystemClock().now()
    admin = {"Authorization": f"Bearer {mint_token(settings, 'root', [Role.ADMIN], now)}"}
    service = {"Authorization": f"Bearer {mint_token(settings, 'coach', [Role.SERVICE], now)}"}
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for query in SETUP:
                answer = await client.post(f"{url_a}/graphql", json={"query": query}, headers=admin)
                assert "errors" not in answer.json(), answer.text

            async def consume(n: int) -> bool:
                url = url_a if n % 2 else url_b
                body = {"query": CONSUME, "variables": {"e": f"x{n}"}}
                answer = await client.post(f"{url}/graphql", json=body, headers=service)
                allowed: bool = answer.json()["data"]["consumeQuota"]["allowed"]
                return allowed

            decisions = await asyncio.gather(*(consume(n) for n in range(200)))
    finally:
        for process in (a, b):
            process.terminate()
            process.wait(timeout=20)
    assert sum(decisions) == 10
    assert await scalar(deps, "SELECT used FROM usage_counters WHERE user_id = 'root'") == 10
    assert await scalar(deps, "SELECT count(*) FROM usage_events WHERE counted") == 10


BIG_QUOTA = [
    SETUP[0],
    'mutation { setPlanQuota(input: {planCode: "premium", meterKey: "ai.calls", '
    "includedUnits: 1000000, hardLimit: true}) { errors { code } } }",
    SETUP[2],
]
LIMIT = 1_000_000
COUNTED = "SELECT event_id FROM usage_events WHERE user_id = 'root' AND counted"
USED = "SELECT used FROM usage_counters WHERE user_id = 'root'"


async def test_an_api_process_killed_mid_burst_loses_no_allowed_unit_and_counts_none_twice(
    deps, settings
):
    """Group commit answers a call only after its batch commits: after a `kill -9` in the
    middle of a burst, every unit answered "allowed" is counted, none twice, and the
    calls that were in flight count at most once when the client sends them again."""
    assert settings.database_url
    redis = RedisServer()
    redis.start()
    process, url = start_api(settings.database_url, redis.url)
    now = SystemClock().now()
    admin = {"Authorization": f"Bearer {mint_token(settings, 'root', [Role.ADMIN], now)}"}
    service = {"Authorization": f"Bearer {mint_token(settings, 'coach', [Role.SERVICE], now)}"}
    allowed: list[str] = []
    in_flight: list[str] = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for query in BIG_QUOTA:
                answer = await client.post(f"{url}/graphql", json={"query": query}, headers=admin)
                assert "errors" not in answer.json(), answer.text

            async def consume(base: str, event: str) -> dict[str, object]:
                body = {"query": CONSUME_USED, "variables": {"e": event}}
                answer = await client.post(f"{base}/graphql", json=body, headers=service)
                found: dict[str, object] = answer.json()["data"]["consumeQuota"]
                return found

            async def caller(worker: int) -> None:
                for n in range(10_000):
                    event = f"w{worker}-{n}"
                    try:
                        decision = await consume(url, event)
                    except httpx.HTTPError:  # the process died with the call unanswered
                        in_flight.append(event)
                        return
                    assert decision["allowed"] is True
                    allowed.append(event)

            callers = [asyncio.ensure_future(caller(w)) for w in range(24)]
            while len(allowed) < 300:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            process.kill()
            process.wait(timeout=20)
            await asyncio.gather(*callers)

            assert in_flight  # some calls were cut off: their outcome was unknown to clients
            counted = {row["event_id"] for row in await _fetch(settings.database_url, COUNTED)}
            assert set(allowed) <= counted  # no unit answered "allowed" was lost
            assert counted <= set(allowed) | set(in_flight)
            assert await scalar(deps, USED) == len(counted)  # none counted twice

            process, url = start_api(settings.database_url, redis.url)
            for event in allowed[:20]:  # a client's retry of an answered call: a replay
                assert (await consume(url, event))["allowed"] is True
            for event in in_flight:  # the cut-off calls, sent again: counted at most once
                assert (await consume(url, event))["allowed"] is True
            assert await scalar(deps, USED) == len(counted | set(in_flight))
            fresh = await consume(url, "after-restart")
            used = len(counted | set(in_flight)) + 1
            assert fresh["remaining"] == LIMIT - used
            assert await _gate_counters(redis.url) == [used]  # rebuilt from PostgreSQL
    finally:
        process.kill()
        process.wait(timeout=20)
        redis.stop()


CONSUME_USED = (
    'mutation($e: String!) { consumeQuota(input: {userId: "root", meterKey: "ai.calls", '
    "eventId: $e}) { allowed remaining } }"
)


async def _fetch(database_url: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return await connection.fetch(sql)
    finally:
        await connection.close()


async def _gate_counters(url: str) -> list[int]:
    client = Redis.from_url(url)
    try:
        return [int(await client.get(key)) async for key in client.scan_iter("*:quota:*")]
    finally:
        await client.aclose()
