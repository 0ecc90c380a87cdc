"""Delivering the event log to webhook endpoints (Standard Webhooks).

Two steps, each safe with several workers: `fan_out` turns the log's new events into
one delivery per matching endpoint, in SQL (each endpoint's cursor moves in the same
transaction, endpoints locked with SKIP LOCKED); `send_due` leases due deliveries
(REFILL more of an endpoint with fewer waiting, so under HELD_PER_ENDPOINT wait for a
slot) and POSTs them, WEBHOOK_CONCURRENCY_PER_ENDPOINT at a time per endpoint, so a
slow endpoint holds its own slots and never another's. Results are recorded as many a
transaction as are waiting, while the POSTs go on. A lease outlives the endpoint's
queue and the timeout: a worker killed mid-POST leaves the delivery to be sent again
once the lease ends, with the same `webhook-id` (the event id), so receivers drop the
duplicate. Every attempt is kept. The claim and the recording run on a plain asyncpg
connection: at hundreds of deliveries a second the ORM's share was a third of the
sender's CPU.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from standardwebhooks import Webhook

from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.clock import Clock, SystemClock
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.messaging import last_position, sequence_log
from services.store.webhooks import Attempt, Leased, attempts_made, claim, record_attempts
from services.webhooks.addresses import guarded, refusal
from services.webhooks.rules import (
    DeliveryStatus,
    EndpointStatus,
    next_attempt,
    parse_schedule,
    should_disable,
)

log = logging.getLogger(__name__)
CONCURRENCY = 64  # connections per worker
HELD = 512  # deliveries a worker holds leased (queued or in flight)
HELD_PER_ENDPOINT = 64  # of them waiting for one endpoint's slots, at most
REFILL = HELD_PER_ENDPOINT // 2  # an endpoint is leased more once fewer wait
FAN_OUT_PAGE = 1000
RECORD_BATCH, RECORD_WAIT = 32, 0.005  # fewer, fuller transactions when busy
USER_AGENT = "subscription-service-webhooks/1"


def signature(secrets: tuple[str, ...], message_id: str, moment: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret in use, space separated."""
    return " ".join(Webhook(secret).sign(message_id, moment, body) for secret in secrets)


@dataclass(frozen=True)
class _Result:
    item: Leased
    status: int | None
    error: str | None
    duration_ms: int


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
        self.per_endpoint = settings.webhook_concurrency_per_endpoint
        self.guarded = guarded(settings)  # production: public addresses only
        self.client = client or httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_connections=concurrency)
        )
        # The signature's timestamp is the real time: receivers check it against theirs.
        self.wall = wall or SystemClock()
        self._held: Counter[uuid.UUID] = Counter()  # leased and not yet recorded
        self._unsent: Counter[uuid.UUID] = Counter()  # leased and not yet POSTed
        self._found_none_past: frozenset[uuid.UUID] | None = None  # see send_due
        self._slots: dict[uuid.UUID, asyncio.Semaphore] = {}  # POSTs per endpoint
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[_Result] = []
        self._recorder: asyncio.Task[None] | None = None
        self._freed = asyncio.Event()  # set when results were recorded

    @property
    def held(self) -> int:
        return sum(self._held.values())

    async def fan_out(self) -> int:
        """Deliveries for the events logged since each enabled endpoint's cursor."""
        self._found_none_past = None  # new deliveries, or retries come due: ask again
        now = self.deps.clock.now()
        async with self.deps.uow() as uow:
            await sequence_log(uow.session, wait=False)
            await uow.commit()
        created = 0
        async with self.deps.uow() as uow:
            top = await last_position(uow.session)
            for endpoint in await uow.webhooks.enabled_for_fan_out():
                if endpoint.cursor >= top:
                    continue
                page = await uow.webhooks.fan_out(endpoint, endpoint.cursor, top, FAN_OUT_PAGE, now)
                created += page.created
                endpoint.cursor = page.reached if page.found == FAN_OUT_PAGE else top
            await uow.commit()
        return created

    async def send_due(self) -> int:
        """Lease what is due (REFILL more of an endpoint holding fewer) and start
        sending it, `per_endpoint` at a time for each endpoint; returns how many."""
        capacity = HELD - self.held
        full = self._full()
        # The last claim took all that was due but of these same full endpoints: until
        # one drains or a fan-out adds deliveries, asking again would find nothing.
        if capacity <= 0 or full == self._found_none_past:
            return 0
        now = self.deps.clock.now()
        lease = now + timedelta(seconds=self.lease_seconds)
        async with self.deps.plain_connection() as connection:
            leased = await claim(connection, now, lease, capacity, REFILL, full)
        for item in leased:
            self._held[item.endpoint_id] += 1
            self._unsent[item.endpoint_id] += 1
        if len(leased) < capacity:  # all that was due, but of the endpoints now full
            self._found_none_past = self._full()
        for item in leased:
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(leased)

    def _full(self) -> frozenset[uuid.UUID]:
        """Endpoints with REFILL or more deliveries waiting for a POST slot: enough queued
        (those sent and waiting to be recorded do not count, so slots never run dry)."""
        return frozenset(endpoint for endpoint, n in self._unsent.items() if n >= REFILL)

    @property
    def lease_seconds(self) -> float:
        """Past the time its endpoint's queue and its own POST may take, and the time to
        record it: only then may another worker send a leased delivery again."""
        return (HELD_PER_ENDPOINT // self.per_endpoint + 1) * self.timeout + 1

    async def drain(self) -> None:
        """Fan out and send until nothing is due now (tests, benchmarks)."""
        await self.fan_out()
        while True:
            self._freed.clear()
            started = await self.send_due()
            if self.held:
                await self._freed.wait()  # some were recorded: claim again
            elif not started and not await self.fan_out():
                return

    async def run(self, stop: asyncio.Event, idle_seconds: float = 0.25) -> None:
        """Until stopped: fan out every `idle_seconds`, and claim again as soon as sent
        deliveries are recorded (a busy endpoint does not wait for the next round)."""
        fan_out_at = 0.0
        while not stop.is_set():
            self._freed.clear()
            try:
                if time.monotonic() >= fan_out_at:
                    await self.fan_out()
                    fan_out_at = time.monotonic() + idle_seconds
                started = await self.send_due()
            except Exception:  # a database hiccup: the next round tries again
                log.exception("webhook round failed")
                started = 0
            if not started:
                waits = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._freed.wait()),
                ]
                await asyncio.wait(waits, timeout=idle_seconds, return_when=FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
        await self.close()

    async def close(self) -> None:
        while self._tasks or self._recorder is not None:
            await asyncio.wait({*self._tasks, *([self._recorder] if self._recorder else [])})
        await self.client.aclose()

    async def _deliver(self, item: Leased) -> None:
        slots = self._slots.setdefault(item.endpoint_id, asyncio.Semaphore(self.per_endpoint))
        async with slots:
            status: int | None = None
            error: str | None = None
            started = time.perf_counter()
            moment = self.wall.now()
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": item.event_id,
                "webhook-timestamp": str(int(moment.timestamp())),
                "webhook-signature": signature(item.secrets, item.event_id, moment, item.body),
            }
            try:
                if self.guarded and (why := await refusal(item.url)):
                    error = f"not sent: {why}"
                else:
                    answer = await self.client.post(
                        item.url, content=item.body.encode(), headers=headers, timeout=self.timeout
                    )
                    status = answer.status_code
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:500]
            duration = int((time.perf_counter() - started) * 1000)
        self._unsent[item.endpoint_id] -= 1
        self._results.append(_Result(item, status, error, duration))
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_all())

    async def _record_all(self) -> None:
        """Record what was sent, as many results a transaction as are waiting: the
        POSTs go on meanwhile. A failed transaction leaves them to their leases."""
        try:
            while self._results:
                if len(self._results) < RECORD_BATCH and self._tasks:
                    await asyncio.sleep(RECORD_WAIT)  # let a few more POSTs finish
                batch, self._results = self._results, []
                try:
                    await self._record(batch)
                except Exception:  # the leases run out; another round sends them again
                    log.exception("recording %d webhook deliveries failed", len(batch))
                for result in batch:
                    self._held[result.item.endpoint_id] -= 1
                self._freed.set()
        finally:
            self._recorder = None

    async def _record(self, results: list[_Result]) -> None:
        now = self.deps.clock.now()
        failing: set[uuid.UUID] = set()
        succeeded: set[uuid.UUID] = set()
        async with self.deps.plain_connection() as connection, connection.transaction():
            made = await attempts_made(connection, [r.item.id for r in results])
            attempts: list[Attempt] = []
            for result in results:
                if result.item.id not in made:
                    continue  # the endpoint was deleted meanwhile
                endpoint_id, before = made[result.item.id]
                upcoming = None
                if result.error is None:
                    status = DeliveryStatus.SUCCEEDED
                    succeeded.add(endpoint_id)
                else:
                    upcoming = next_attempt(self.schedule, before + 1, now)
                    status = DeliveryStatus.PENDING if upcoming else DeliveryStatus.FAILED
                    failing.add(endpoint_id)
                attempts.append(
                    Attempt(
                        result.item.id,
                        before + 1,
                        status,
                        result.status,
                        result.error,
                        result.duration_ms,
                        upcoming,
                    )
                )
            if attempts:
                await record_attempts(connection, attempts, now, succeeded - failing)
        if failing - succeeded:  # rare: an endpoint's run of failures, maybe its end
            async with self.deps.uow() as uow:
                for endpoint_id in failing - succeeded:
                    await self._failed(uow, endpoint_id, now)
                await uow.commit()

    async def _failed(self, uow: UnitOfWork, endpoint_id: uuid.UUID, now: datetime) -> None:
        """Every delivery failing since `failing_since`: past the days allowed, the
        endpoint is disabled and says so."""
        endpoint = await uow.webhooks.endpoint(endpoint_id, lock=True)
        if endpoint is None:
            return
        endpoint.failing_since = endpoint.failing_since or now
        if endpoint.status is not EndpointStatus.ENABLED or not should_disable(
            endpoint.failing_since, now, self.disable_after_days
        ):
            return
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
