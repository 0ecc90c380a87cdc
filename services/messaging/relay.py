"""The outbox relay: publishes committed events in order, then marks them published.

Several relays can run at once. Each claims unpublished rows in id order with FOR
UPDATE SKIP LOCKED, and publishes a key's events only while they are the oldest
unpublished events of that key, so one user's events never overtake each other even
when two relays hold neighbouring batches. Publishing is at-least-once: a relay that
dies after the broker acknowledged but before marking rows publishes them again, and
consumers drop the duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.messaging.live import LiveFeed
from services.messaging.publisher import OutboundMessage, Publisher, PublishError
from services.platform.clock import Clock
from services.store.messaging import OutboxRepository

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 1000,
        retention: timedelta = timedelta(hours=72),
        live: LiveFeed | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.clock = clock
        self.batch_size = batch_size
        self.retention = retention
        self.live = live

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events went out. Raises PublishError
        (nothing marked) when the broker did not take them."""
        async with self.session_factory() as session, session.begin():
            outbox = OutboxRepository(session)
            claimed = await outbox.claim_unpublished(self.batch_size)
            if not claimed:
                return 0
            ready = await outbox.publishable_in_order(claimed)
            if not ready:
                return 0
            messages = [OutboundMessage(row.topic, row.key, row.value) for row in ready]
            await self.publisher.publish(messages)
            await outbox.mark_published([row.id for row in ready], self.clock.now())
        if self.live is not None:  # committed and published: push to websocket clients
            await self.live.publish(messages)
        return len(ready)

    async def drain(self) -> int:
        total = 0
        while sent := await self.relay_once():
            total += sent
        return total

    async def prune(self) -> int:
        async with self.session_factory() as session, session.begin():
            return await OutboxRepository(session).prune(self.clock.now() - self.retention)

    async def run(
        self,
        stop: asyncio.Event,
        idle_seconds: float = 0.2,
        on_round: Callable[[], None] = lambda: None,
    ) -> None:
        """Relay until stopped, backing off (up to 30 s) while the broker is away.
        `on_round` is called after each round that reached the broker (a heartbeat)."""
        backoff = 0.5
        while not stop.is_set():
            try:
                sent = await self.drain()
                backoff = 0.5
                on_round()
            except PublishError as error:
                log.warning("broker unavailable, retrying in %.1fs: %s", backoff, error)
                sent = 0
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not sent:
                await _sleep(stop, idle_seconds)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
