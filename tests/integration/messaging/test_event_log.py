"""The event log on real PostgreSQL: every outbox row gets a position, and paging by
cursor while writers commit out of id order never skips nor repeats an event; a
customer reads only their own events; retention prunes the old ones."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest

from services.app.relay import OutboxRelay
from services.common.errors import DomainError, ErrorCode
from services.messaging.events import DomainEvent
from services.messaging.publisher import InProcessBus
from services.reads import events as event_reads
from services.subscriptions import checkout
from tests.conftest import scalar

WRITERS = 12
EVENTS_EACH = 15


async def _writer(deps, n: int, written: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Insert a row, then wait a little before committing: ids and commits interleave
    across writers, so a later id often commits first."""
    rng = random.Random(n)
    for i in range(EVENTS_EACH):
        async with deps.uow() as uow:
            event = DomainEvent(
                "subscription.resumed",
                f"w{n}",
                {"n": n, "i": i},
                deps.clock.now(),
                id=str(uuid.uuid4()),
            )
            await uow.messaging.add_outbox([(event, "t")])
            await asyncio.sleep(rng.random() / 100)
            await uow.session.commit()
            written.append(event.id)


async def test_paging_while_writers_commit_out_of_order_neither_skips_nor_repeats(deps):
    written: list[str] = []
    writers = asyncio.gather(*(_writer(deps, n, written) for n in range(WRITERS)))
    seen: list[str] = []
    positions: list[int] = []
    cursor = None
    while True:
        done = writers.done()
        page = await event_reads.read(deps, event_reads.EventQuery(first=7, after=cursor))
        seen += [event.event_id for event in page.items]
        positions += [event.position for event in page.items]
        cursor = page.end_cursor
        if done and not page.items:
            break
        if not page.items:
            await asyncio.sleep(0.005)
    await writers
    assert len(seen) == len(set(seen)) == WRITERS * EVENTS_EACH  # no repeat
    assert set(seen) == set(written)  # no skip
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # The case this is about happened: rows whose insert order (id) is not their order
    # in the log, because the later insert committed first. Paging by id would skip.
    crossed = await scalar(
        deps,
        "SELECT count(*) FROM outbox a JOIN outbox b ON a.id < b.id AND a.position > b.position",
    )
    assert crossed > 0


async def test_filters_and_a_customers_own_events(deps):
    await checkout.subscribe(deps, checkout.Subscribe("ann", "premium", "pm_card_visa"))
    await checkout.subscribe(deps, checkout.Subscribe("bob", "premium", "pm_card_visa"))
    mine = await event_reads.read(deps, event_reads.EventQuery(first=50), customer=False)
    assert {e.key for e in mine.items} >= {"ann", "bob"}
    anns = await event_reads.read(
        deps, event_reads.EventQuery(first=50, user_id="ann"), customer=True
    )
    assert anns.items and {e.key for e in anns.items} == {"ann"}
    assert "notification.requested" not in {e.event_type for e in anns.items}
    started = await event_reads.read(
        deps, event_reads.EventQuery(first=50, types=["subscription.started"])
    )
    assert [e.key for e in started.items] == ["ann", "bob"]
    since = await event_reads.read(
        deps, event_reads.EventQuery(first=50, since=deps.clock.now() + timedelta(seconds=1))
    )
    assert since.items == ()
    with pytest.raises(DomainError) as bad:
        await event_reads.read(deps, event_reads.EventQuery(after="not-a-cursor"))
    assert bad.value.code is ErrorCode.INVALID_INPUT and bad.value.field == "after"


async def test_retention_prunes_published_events_and_zero_keeps_them(deps, clock):
    await checkout.subscribe(deps, checkout.Subscribe("amy", "premium", "pm_card_visa"))
    forever = OutboxRelay(deps.session_factory, InProcessBus(), clock, retention=None)
    published = await forever.drain()
    clock.advance(timedelta(days=500))
    assert await forever.prune() == 0
    relay = OutboxRelay(deps.session_factory, InProcessBus(), clock, retention=timedelta(days=400))
    assert await relay.prune() == published
    assert await scalar(deps, "SELECT count(*) FROM outbox") == 0
