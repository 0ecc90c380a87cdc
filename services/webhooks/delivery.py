"""Delivering the event log to webhook endpoints (Standard Webhooks).

Two steps, each safe with several workers: `fan_out` turns the log's new events into
one delivery per matching endpoint (each endpoint's cursor moves in the same
transaction, endpoints locked with SKIP LOCKED); `send_due` leases due deliveries and
POSTs each in its own task, so a slow endpoint holds a few slots (at most
PER_ENDPOINT in flight) and never the others. A delivery's lease outlives the timeout:
a worker killed mid-POST leaves it to be sent again once the lease ends, with the same
`webhook-id` (the event id), so receivers drop the duplicate. Every attempt is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

import httpx
from standardwebhooks import Webhook

from models import WebhookAttempt, WebhookEndpoint
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.clock import Clock, SystemClock
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store import event_log
from services.store.webhooks import Leased
from services.webhooks.rules import (
    DeliveryStatus,
    EndpointStatus,
    next_attempt,
    parse_schedule,
    should_disable,
)

log = logging.getLogger(__name__)
CONCURRENCY = 64  # POSTs in flight per worker
PER_ENDPOINT = 8  # of them to one endpoint
FAN_OUT_PAGE = 1000
USER_AGENT = "subscription-service-webhooks/1"


def signature(secrets: tuple[str, ...], message_id: str, moment: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret in use, space separated."""
    return " ".join(Webhook(secret).sign(message_id, moment, body) for secret in secrets)


class WebhookSender:
    def __init__(
        self,
        deps: Deps,
        *,
        client: httpx.AsyncClient | None = None,
        wall: Clock | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.deps = deps
        settings = deps.settings
        self.schedule = parse_schedule(settings.webhook_retry_seconds)
        self.timeout = settings.webhook_timeout_seconds
        self.disable_after_days = settings.webhook_disable_after_days
        self.client = client or httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_connections=concurrency)
        )
        # The signature's timestamp is the real time: receivers check it against theirs.
        self.wall = wall or SystemClock()
        self.concurrency = concurrency
        self._in_flight: Counter[uuid.UUID] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    async def fan_out(self) -> int:
        """Deliveries for the events logged since each enabled endpoint's cursor."""
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            await event_log.sequence(uow.session, wait=False)
            await uow.commit()
        created = 0
        async with self.deps.uow() as uow:
            for endpoint in await uow.webhooks.enabled_for_fan_out():
                top = await event_log.last_position(uow.session)
                found = await event_log.page(
                    uow.session, endpoint.cursor, FAN_OUT_PAGE, types=endpoint.event_types
                )
                created += await uow.webhooks.fan_out(endpoint, found, now)
                reached = found[-1].position if found else endpoint.cursor
                endpoint.cursor = reached if len(found) == FAN_OUT_PAGE else max(top, reached)
            await uow.commit()
        return created

    async def send_due(self) -> int:
        """Lease what is due and start sending it; returns how many started."""
        capacity = self.concurrency - len(self._tasks)
        if capacity <= 0:
            return 0
        now = self.deps.clock.now()
        busy = [endpoint for endpoint, n in self._in_flight.items() if n >= PER_ENDPOINT]
        # Past the POST's timeout, with room to record it: then another may send it.
        lease = now + timedelta(seconds=2 * self.timeout + 1)
        async with self.deps.uow() as uow:
            leased = await uow.webhooks.claim(now, lease, capacity, PER_ENDPOINT, busy)
            await uow.commit()
        for item in leased:
            self._in_flight[item.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(leased)

    async def drain(self) -> None:
        """Fan out and send until nothing is due now (tests, benchmarks)."""
        while True:
            await self.fan_out()
            started = await self.send_due()
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            elif not started:
                return

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.25) -> None:
        while not stop.is_set():
            try:
                await self.fan_out()
                started = await self.send_due()
            except Exception:  # a database hiccup: the next round tries again
                log.exception("webhook round failed")
                started = 0
            if not started:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)
        await self.close()

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        await self.client.aclose()

    async def _deliver(self, item: Leased) -> None:
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": item.event_id,
            "webhook-timestamp": str(int(self.wall.now().timestamp())),
            "webhook-signature": signature(item.secrets, item.event_id, self.wall.now(), item.body),
        }
        try:
            answer = await self.client.post(
                item.url, content=item.body.encode(), headers=headers, timeout=self.timeout
            )
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        duration = int((time.perf_counter() - started) * 1000)
        try:
            await self._record(item, status, error, duration)
        except Exception:  # the lease runs out and another round sends it again
            log.exception("recording webhook delivery %s failed", item.id)
        finally:
            self._in_flight[item.endpoint_id] -= 1

    async def _record(
        self, item: Leased, status: int | None, error: str | None, duration_ms: int
    ) -> None:
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            delivery = await uow.webhooks.delivery(item.id, lock=True)
            endpoint = await uow.webhooks.endpoint(item.endpoint_id, lock=True)
            if delivery is None or endpoint is None:
                return  # the endpoint was deleted meanwhile
            delivery.attempts += 1
            delivery.leased_until = None
            delivery.last_status_code, delivery.last_error = status, error
            upcoming = None
            if error is None:
                delivery.status, delivery.delivered_at = DeliveryStatus.SUCCEEDED, now
                delivery.next_attempt_at = None
                endpoint.failing_since = None
            else:
                upcoming = next_attempt(self.schedule, delivery.attempts, now)
                delivery.next_attempt_at = upcoming
                if upcoming is None:
                    delivery.status = DeliveryStatus.FAILED
                endpoint.failing_since = endpoint.failing_since or now
                if endpoint.status is EndpointStatus.ENABLED and should_disable(
                    endpoint.failing_since, now, self.disable_after_days
                ):
                    await self._disable(uow, endpoint, now)
            uow.webhooks.add_attempt(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    attempt=delivery.attempts,
                    status_code=status,
                    duration_ms=duration_ms,
                    error=error,
                    attempted_at=now,
                    next_attempt_at=upcoming,
                )
            )
            await uow.commit()

    async def _disable(self, uow: UnitOfWork, endpoint: WebhookEndpoint, now: datetime) -> None:
        days = self.disable_after_days
        reason = f"every delivery failed for {days} days"
        endpoint.status, endpoint.disabled_reason, endpoint.updated_at = (
            EndpointStatus.DISABLED,
            reason,
            now,
        )
        await uow.webhooks.stop_pending(endpoint.id, "endpoint disabled")
        data = {
            "endpointId": str(endpoint.id),
            "url": endpoint.url,
            "reason": reason,
            "failingSince": events.iso(endpoint.failing_since),
        }
        uow.record(DomainEvent(events.WEBHOOK_ENDPOINT_DISABLED, str(endpoint.id), data, now))
