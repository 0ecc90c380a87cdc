"""Two API processes sharing Redis: a change made through one reaches a websocket
client of the other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from services.platform.auth import mint_token
from services.platform.clock import SystemClock
from services.platform.config import Settings
from tests.ports import free_port
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[3]


def start_api(
    database_url: str, redis_url: str | None, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    variables = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    if redis_url:
        variables["REDIS_URL"] = redis_url
    process = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=variables,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API process did not start")


@pytest.fixture
def two_processes(deps, settings):
    redis = RedisServer()
    redis.start()
    assert settings.database_url
    a, url_a = start_api(settings.database_url, redis.url)
    b, url_b = start_api(settings.database_url, redis.url, "--with-worker")
    yield url_a, url_b, redis
    for process in (a, b):
        process.terminate()
        process.wait(timeout=20)
    redis.stop()


async def test_a_change_through_one_process_reaches_a_client_of_another(two_processes, settings):
    url_a, url_b, redis = two_processes
    token = mint_token(settings, "pia", [], SystemClock().now())
    transport = WebsocketsTransport(
        url=url_a.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:

        async def first_event() -> dict:
            query = gql("subscription { subscriptionStatusChanged { userId status reason } }")
            async for result in session.subscribe(query):
                return result
            raise AssertionError("subscription ended")

        waiting = asyncio.create_task(first_event())
        await asyncio.sleep(1.0)  # let the subscription register on process A
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{url_b}/graphql",
                json={
                    "query": 'mutation { subscribe(input: {planCode: "premium", paymentMethodId: "pm_card_visa"}) { errors { code } } }'
                },
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.json()["data"]["subscribe"]["errors"] == []
        event = await asyncio.wait_for(waiting, 30)
    assert event["subscriptionStatusChanged"] == {
        "userId": "pia",
        "status": "TRIALING",
        "reason": "trial_started",
    }

    # Redis gone: readiness says degraded, not down, and reads still answer.
    redis.stop()
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{url_a}/admin/health")
        status = await client.get(
            f"{url_a}/api/v1/subscriptions/me", headers={"Authorization": f"Bearer {token}"}
        )
    assert health.status_code == 200 and health.json()["status"] == "degraded"
    assert health.json()["checks"]["redis"].startswith("degraded")
    assert status.json()["entitlements"]["tier"] == "premium"


@pytest.fixture
def second_database(settings):
    """Another deployment's database on the same PostgreSQL server."""
    assert settings.database_url
    base = settings.database_url.rsplit("/", 1)[0]
    name = f"{settings.database_url.rsplit('/', 1)[1]}_other"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(f"{base}/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield f"{base}/{name}"
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def two_deployments(deps, settings, second_database):
    redis = RedisServer()
    redis.start()
    assert settings.database_url
    a, url_a = start_api(settings.database_url, redis.url, "--with-worker")
    b, url_b = start_api(second_database, redis.url, "--with-worker")
    yield url_a, url_b, redis
    for process in (a, b):
        process.terminate()
        process.wait(timeout=20)
    redis.stop()


def test_deployments_sharing_one_redis_never_see_each_others_changes(two_deployments, settings):
    url_a, url_b, redis = two_deployments
    token = mint_token(settings, "pia", [], SystemClock().now())

    async def scenario() -> tuple[list[dict], list[dict], dict, dict]:
        received: dict[str, list[dict]] = {"a": [], "b": []}

        async def listen(url: str, name: str) -> None:
            transport = WebsocketsTransport(
                url=url.replace("http://", "ws://") + "/graphql",
                init_payload={"Authorization": f"Bearer {token}"},
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            )
            async with Client(transport=transport) as session:
                query = gql("subscription { subscriptionStatusChanged { userId status } }")
                async for result in session.subscribe(query):
                    received[name].append(result["subscriptionStatusChanged"])

        listeners = [
            asyncio.create_task(listen(url_a, "a")),
            asyncio.create_task(listen(url_b, "b")),
        ]
        await asyncio.sleep(1.5)  # both subscriptions registered
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(timeout=30) as client:
            # Both deployments cache the same user id before the change.
            for url in (url_a, url_b):
                await client.get(f"{url}/api/v1/subscriptions/me", headers=headers)
            response = await client.post(
                f"{url_a}/graphql",
                json={
                    "query": 'mutation { subscribe(input: {planCode: "premium", paymentMethodId: "pm_card_visa"}) { errors { code } } }'
                },
                headers=headers,
            )
            assert response.json()["data"]["subscribe"]["errors"] == []
            for _ in range(150):
                if received["a"]:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # time enough for a leak to arrive at B
            seen_a = (await client.get(f"{url_a}/api/v1/subscriptions/me", headers=headers)).json()
            seen_b = (await client.get(f"{url_b}/api/v1/subscriptions/me", headers=headers)).json()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        return received["a"], received["b"], seen_a, seen_b

    changes_a, changes_b, seen_a, seen_b = asyncio.run(scenario())
    assert changes_a == [{"userId": "pia", "status": "TRIALING"}]
    assert changes_b == []
    assert seen_a["entitlements"]["tier"] == "premium"
    assert seen_b["subscription"] is None and seen_b["entitlements"]["tier"] == "free"

    keys = subprocess.run(
        ["redis-cli", "-p", str(redis.port), "--scan"], capture_output=True, text=True, check=True
    ).stdout.split()
    prefix_a = Settings(database_url=settings.database_url).redis_prefix
    prefix_b = Settings(database_url=settings.database_url + "_other").redis_prefix
    assert prefix_a != prefix_b
    assert any(k.startswith(f"{prefix_a}:access:pia") for k in keys)
    assert any(k.startswith(f"{prefix_b}:access:pia") for k in keys)
    assert all(k.startswith((f"{prefix_a}:", f"{prefix_b}:")) for k in keys), keys


def test_serve_without_a_worker_warns_with_the_command_to_run(deps, settings, tmp_path):
    assert settings.database_url
    log = tmp_path / "serve.log"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "main.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "Uvicorn running" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert "no background worker in this process" in text
    assert "main.py worker" in text
