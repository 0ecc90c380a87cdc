"""The outbox relay: publishes committed events in order, then marks them published.

Several relays can run at once. Each claims unpublished rows in id order with FOR
UPDATE SKIP LOCKED, and publishes a key's events only while they are the oldest
unpublished events of that key, so one user's events never overtake each other even
when two relays hold neighbouring batches. Publishing is at-least-once: a relay that
dies after the broker acknowledged but before marking rows publishes them again, and
consumers drop the duplicates by event id.

One relay keeps two batches in flight, each in its own transaction: while one is sent
to the broker, the one before it is marked published and the one after it claimed.
A batch is sent only once the batch before it was acknowledged (a failed batch fails
the one after it, unsent), and it commits only after the batch before it finished, so
the order above holds across batches too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.messaging.live import LiveFeed
from services.messaging.publisher import OutboundMessage, Publisher, PublishError
from services.platform.clock import Clock
from services.store.messaging import OutboxRepository, PendingEvent, sequence_log

log = logging.getLogger(__name__)
IN_FLIGHT = 2  # batches per relay: one being sent while the one before is marked


@dataclass(eq=False)
class _Batch:
    """Claimed rows whose transaction stays open until they are marked published."""

    session: AsyncSession
    events: Sequence[PendingEvent]
    acked: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    task: asyncio.Task[int] | None = None


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 1000,
        retention: timedelta | None = timedelta(days=400),  # None: kept forever
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
        batch = await self._claim(held=())
        return 0 if batch is None else await self._publish(batch, None)

    async def drain(self) -> int:
        """Publish until nothing publishable is left; returns how many went out. What
        committed before gets its event log position first (while this relay holds no
        batch: the sequencer waits for rows a relay holds)."""
        await self.sequence()
        total, flying = 0, list[_Batch]()  # oldest first
        try:
            while True:
                if len(flying) == IN_FLIGHT:
                    total += await _task(flying.pop(0))
                held = [event.id for batch in flying for event in batch.events]
                batch = await self._claim(held)
                if batch is None:  # nothing yet: once what is in flight is done, maybe
                    if not flying:
                        break
                    total += await _task(flying.pop(0))
                    continue
                batch.task = asyncio.create_task(
                    self._publish(batch, flying[-1] if flying else None)
                )
                flying.append(batch)
        finally:  # after a failure: the later batches are unsent, roll them back
            for batch in flying:
                _task(batch).cancel()
            await asyncio.gather(*(_task(batch) for batch in flying), return_exceptions=True)
        return total

    async def _claim(self, held: Sequence[int]) -> _Batch | None:
        """The next batch in its own open transaction, or None when nothing can go out
        yet. `held` are this relay's rows still in flight: they go out first."""
        session = self.session_factory()
        try:
            await session.begin()
            outbox = OutboxRepository(session)
            claimed = await outbox.claim_unpublished(self.batch_size)
            ready = await outbox.publishable_in_order(claimed, held) if claimed else []
        except BaseException:
            await session.close()
            raise
        if not ready:
            await session.close()
            return None
        return _Batch(session, ready)

    async def _publish(self, batch: _Batch, before: _Batch | None) -> int:
        messages = [OutboundMessage(row.topic, row.key, row.value) for row in batch.events]
        try:
            if before is not None:
                await asyncio.shield(before.acked)  # its failure fails this batch, unsent
            await self.publisher.publish(messages)
            batch.acked.set_result(None)
            if before is not None:  # commits (and live pushes) in batch order
                await asyncio.gather(_task(before), return_exceptions=True)
            await OutboxRepository(batch.session).mark_published(
                [row.id for row in batch.events], self.clock.now()
            )
            await batch.session.commit()
        except asyncio.CancelledError:
            batch.acked.cancel()  # no-op once acknowledged
            raise
        except BaseException as error:
            if not batch.acked.done():
                batch.acked.set_exception(error)
                batch.acked.exception()  # retrieved: only the batch after it may care
            raise
        finally:
            await batch.session.close()
        if self.live is not None:  # committed and published: push to websocket clients
            await self.live.publish(messages)
        return len(messages)

    async def sequence(self) -> int:
        async with self.session_factory() as session, session.begin():
            return await sequence_log(session, wait=False)

    async def prune(self) -> int:
        """Published events leave the outbox, and so the event log, after retention."""
        if self.retention is None:
            return 0
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


def _task(batch: _Batch) -> asyncio.Task[int]:
    assert batch.task is not None
    return batch.task


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
