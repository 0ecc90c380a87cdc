"""consumeQuota never over-grants across API processes: two `main.py serve` processes on
one database, 200 parallel calls for the last 10 units."""

from __future__ import annotations

import asyncio

import httpx

from services.platform.auth import Role, mint_token
from services.platform.clock import SystemClock
from tests.conftest import scalar
from tests.e2e.websockets.test_live_processes import start_api

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
