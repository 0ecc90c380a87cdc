"""`kill -9` of a worker process in the middle of a webhook POST loses nothing: its
lease runs out and a new worker sends the event again, with the same `webhook-id`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from services.webhooks import endpoints
from tests.conftest import scalar
from tests.integration.webhooks.receiver import receiving
from tests.integration.webhooks.test_webhooks import subscribe

ROOT = Path(__file__).resolve().parents[3]


def start_worker(
    database_url: str, more_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEBHOOK_TIMEOUT_SECONDS": "1",
        "WEBHOOK_RETRY_SECONDS": "0,1,1,1",
        "WEBHOOK_CONCURRENCY_PER_ENDPOINT": "8",  # a lease of 9 timeouts and 1 s
        **(more_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "main.py", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def until(check, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_worker_killed_mid_post_loses_nothing(deps, settings):
    assert settings.database_url
    async with receiving() as receiver:
        receiver.delay = 30  # the first POST hangs: the worker is killed during it
        endpoint = await endpoints.create(
            deps, endpoints.EndpointChange(receiver.url, ["subscription.started"], "")
        )
        await subscribe(deps, "kil")
        first = start_worker(settings.database_url)
        try:
            leased = await until(
                lambda: scalar(
                    deps, "SELECT count(*) FROM webhook_deliveries WHERE leased_until IS NOT NULL"
                ),
                60,
            )
            assert leased, "the worker never started the delivery"
            await asyncio.sleep(0.3)  # the POST is in flight
        finally:
            first.kill()  # SIGKILL: nothing recorded, the lease stays
            first.wait(timeout=10)
        assert await scalar(deps, "SELECT count(*) FROM webhook_attempts") == 0
        receiver.delay = 0
        second = start_worker(settings.database_url)
        try:
            delivered = await until(
                lambda: scalar(
                    deps,
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'SUCCEEDED'",
                ),
                60,
            )
        finally:
            second.terminate()
            second.wait(timeout=20)
    assert delivered
    ids = receiver.ids()
    assert ids and len(set(ids)) == 1  # the same event, under its one webhook-id
    page = await endpoints.deliveries(deps, str(endpoint.id), 10, None, None)
    assert [d.event_id for d in page.items] == ids[:1]
