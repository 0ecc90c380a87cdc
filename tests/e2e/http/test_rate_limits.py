"""Rate limits over real HTTP and websockets, counted in a real Redis shared by two API
servers. Mutations and failed authentication use the default limits; webhook posts and
websocket connects use small ones here so a test needs no thousand requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets

from services.gateway.local import LocalGateway
from services.platform.auth import mint_token
from services.platform.clock import FrozenClock, SystemClock
from services.platform.config import Settings
from tests.conftest import LiveServer
from tests.redis_server import RedisServer

CANCEL = "mutation { cancelSubscription(input: {}) { errors { code } } }"


@pytest.fixture(scope="module")
def limited(
    settings: Settings, live_clock: FrozenClock, live_gateway: LocalGateway
) -> Iterator[tuple[str, str, RedisServer]]:
    redis = RedisServer()
    redis.start()
    defaults = Settings(database_url=settings.database_url)
    limited_settings = settings.model_copy(
        update={
            "redis_url": redis.url,
            "rate_limit_mutations": defaults.rate_limit_mutations,
            "rate_limit_auth_failures": defaults.rate_limit_auth_failures,
            "rate_limit_websocket_connects": "10/minute",
            "rate_limit_webhooks": "10/minute",
        }
    )
    servers = [LiveServer(limited_settings, live_clock, live_gateway) for _ in range(2)]
    for server in servers:
        server.start()
    yield servers[0].url, servers[1].url, redis
    for server in servers:
        server.stop()
    redis.stop()


def bearer(settings: Settings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings, user, [], SystemClock().now())}"}


async def burst(base: str, count: int, **request: object) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return list(await asyncio.gather(*(client.post(**request) for _ in range(count))))  # type: ignore[arg-type]


def codes(responses: list[httpx.Response]) -> list[str | None]:
    found = []
    for response in responses:
        errors = response.json().get("errors") or [{}]
        found.append(errors[0].get("extensions", {}).get("code"))
    return found


async def test_mutations_past_the_limit_are_refused_across_processes(api, settings, limited):
    url_a, url_b, _ = limited
    headers = bearer(settings, "hammer")
    request = {"url": "/graphql", "json": {"query": CANCEL}, "headers": headers}
    answers = await burst(url_a, 20, **request) + await burst(url_b, 20, **request)
    refused = [r for r in answers if "RATE_LIMITED" in codes([r])]
    assert len(refused) == 10  # 30 per 10 seconds, counted once for both servers
    assert all(r.status_code == 200 for r in answers)
    extensions = refused[0].json()["errors"][0]["extensions"]
    assert 1 <= extensions["retryAfterSeconds"] <= 10
    served = [r for r in answers if r not in refused]
    assert all(r.json()["data"]["cancelSubscription"]["errors"] for r in served)

    # Another user is not held back by the first one's burst.
    other = await burst(
        url_a, 1, url="/graphql", json={"query": CANCEL}, headers=bearer(settings, "calm")
    )
    assert codes(other) == [None]


async def test_rest_mutations_past_the_limit_get_429_with_retry_after(api, settings, limited):
    url_a, _, _ = limited
    answers = await burst(
        url_a, 35, url="/api/v1/subscriptions/cancel", json={}, headers=bearer(settings, "rester")
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(429) == 5 and statuses.count(404) == 30  # NO_SUBSCRIPTION otherwise
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["errors"][0]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10


async def test_failed_authentication_is_limited_per_address(api, settings, limited):
    url_a = limited[0]
    bad = {"Authorization": "Bearer not-a-token"}
    answers = await burst(url_a, 35, url="/graphql", json={"query": CANCEL}, headers=bad)
    found = codes(answers)
    assert found.count("UNAUTHENTICATED") == 30 and found.count("RATE_LIMITED") == 5
    async with httpx.AsyncClient(base_url=url_a) as client:
        rest = await client.get("/currentuser", headers=bad)
        good = await client.get("/currentuser", headers=bearer(settings, "good"))
    assert rest.status_code == 429 and "Retry-After" in rest.headers
    assert good.status_code == 200  # a valid token is never held back by the address


async def test_websocket_connects_past_the_limit_are_closed_with_try_again_later(api, limited):
    url = limited[0].replace("http://", "ws://") + "/graphql"
    closes = []
    for _ in range(12):
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                await asyncio.wait_for(ws.recv(), 5)
            closes.append((closed.value.rcvd.code, closed.value.rcvd.reason))  # type: ignore[union-attr]
    assert [code for code, _ in closes].count(4403) == 10  # no token: refused at init
    assert closes[-1][0] == 1013 and "retry after" in closes[-1][1]


async def test_webhook_posts_past_the_limit_get_429(api, limited):
    url_a, _, _ = limited
    answers = await burst(url_a, 12, url="/webhooks/stripe", content=b"{}")
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [400] * 10 + [429] * 2  # unsigned: refused, but counted


async def test_a_redis_outage_lets_requests_through(api, settings, limited):
    url_a, _, redis = limited
    redis.stop()
    try:
        answers = await burst(
            url_a, 3, url="/graphql", json={"query": CANCEL}, headers=bearer(settings, "outage")
        )
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert codes(answers) == [None, None, None]
    finally:
        redis.start()
