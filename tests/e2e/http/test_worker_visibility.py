"""A missing or stuck worker is visible: backlogs and heartbeats on /metrics and in
/admin/health, which says "degraded" once work waits longer than STALL_ALERT_SECONDS.
The live server runs no worker, as an API process deployed without one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from services.app.health import Heartbeats
from services.app.relay import OutboxRelay
from services.gateway.local import LocalGateway
from services.messaging.live import LocalFeed
from services.messaging.publisher import InProcessBus
from services.platform.clock import FrozenClock
from services.platform.config import Settings
from tests.conftest import LiveServer
from tests.e2e.graphql.test_graphql_customer import SUBSCRIBE


def gauge(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found.group(1))


async def test_unpublished_events_older_than_the_alert_make_readiness_degraded(
    api, deps, live_server
):
    answer = await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="wes"
    )
    assert answer["data"]["subscribe"]["errors"] == []
    fresh = (await api.client.get("/admin/health")).json()
    assert fresh["status"] == "ok" and fresh["backlog"]["unpublishedEvents"] >= 1

    api.clock.advance(timedelta(seconds=api.settings.stall_alert_seconds + 30))
    stalled = await api.client.get("/admin/health")
    assert stalled.status_code == 200  # still serving: degraded, not down
    body = stalled.json()
    assert body["status"] == "degraded" and body["checks"]["worker"] == "degraded: stalled"
    assert any("main.py worker" in reason for reason in body["reasons"])
    assert body["backlog"]["oldestUnpublishedSeconds"] >= api.settings.stall_alert_seconds
    metrics = (await api.client.get("/metrics")).text
    assert gauge(metrics, "outbox_unpublished_events") >= 1
    assert gauge(metrics, "outbox_oldest_unpublished_age_seconds") >= 150

    # A worker catches up: the backlog empties and readiness is ok again.
    relay = OutboxRelay(
        deps.session_factory, InProcessBus(), deps.clock, live=LocalFeed(live_server.app.state.hub)
    )
    await relay.drain()
    caught_up = (await api.client.get("/admin/health")).json()
    assert caught_up["backlog"]["unpublishedEvents"] == 0
    assert caught_up["status"] == "ok" and "reasons" not in caught_up


async def test_overdue_lifecycle_work_makes_readiness_degraded(api):
    await api.gql(
        SUBSCRIBE, {"input": {"planCode": "premium", "paymentMethodId": "pm_card_visa"}}, user="ora"
    )
    api.clock.advance(timedelta(days=15))  # the trial ended a day ago; nobody converted it
    body = (await api.client.get("/admin/health")).json()
    assert body["status"] == "degraded"
    assert body["backlog"]["oldestOverdueSeconds"] >= 86_400
    assert any("lifecycle work overdue" in reason for reason in body["reasons"])
    metrics = (await api.client.get("/metrics")).text
    assert gauge(metrics, "lifecycle_oldest_overdue_seconds") >= 86_400


async def test_worker_heartbeats_are_on_metrics_and_readiness(api, deps):
    heartbeats = Heartbeats()
    heartbeats.beat("scheduler")
    heartbeats.beat("relay")
    await heartbeats.flush(deps)
    body = (await api.client.get("/admin/health")).json()
    assert set(body["backlog"]["workerHeartbeats"]) == {"relay", "scheduler"}
    metrics = (await api.client.get("/metrics")).text
    stamp = re.search(
        r'^worker_loop_last_heartbeat_timestamp_seconds\{loop="relay"\} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    assert stamp and float(stamp.group(1)) > 1.7e9


@pytest.fixture(scope="module")
def guarded_metrics(
    settings: Settings, live_clock: FrozenClock, live_gateway: LocalGateway
) -> Iterator[str]:
    server = LiveServer(
        settings.model_copy(update={"metrics_token": "scrape-0123456789abcdef"}),
        live_clock,
        live_gateway,
    )
    server.start()
    yield server.url
    server.stop()


async def test_metrics_token_guards_the_metrics_route(api, guarded_metrics):
    async with httpx.AsyncClient(base_url=guarded_metrics) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get(
            "/metrics", headers={"Authorization": "Bearer scrape-0123456789abcdef"}
        )
    assert right.status_code == 200 and "http_requests_total" in right.text
