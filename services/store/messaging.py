"""SQL for the outbox, the event log its rows make, and the idempotency keys.

The event log: every outbox row is an entry, ordered by `position`.

A row is written with the change it describes; its position is given afterwards by
one sequencer at a time (a transaction-scoped advisory lock), in id order among the
rows committed by then, as the previous maximum plus one. Positions therefore become
visible in order, each sequencing transaction whole: a reader that has seen position
p will never later find a committed position below p, so paging by position under
concurrent writers neither skips nor repeats an event. (Ordering by the id a row got
at insert would: a transaction that took id 10 may commit after one that took 11.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import BigInteger, Text, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from models import IdempotencyKey, OutboxEvent
from services.messaging.events import DomainEvent
from services.store.db import session_driver


async def copy_outbox(
    driver: asyncpg.Connection, source: str, recorded: Sequence[tuple[DomainEvent, str]]
) -> None:
    """(event, topic) pairs as outbox rows, by one binary COPY inside the caller's
    transaction (its rows keep their order, so ids follow the order the events were
    recorded: the relay's order); each envelope is serialized once, by orjson."""
    rows = []
    for event, topic in recorded:
        event_id, value = event.serialized(source)
        rows.append((event_id, topic, event.subject, event.type, value.decode(), event.occurred_at))
    await driver.copy_records_to_table("outbox", columns=_OUTBOX_COLUMNS, records=rows)


@dataclass(frozen=True)
class InboxRecord:
    source: str
    message_id: str
    message_type: str | None
    payload: dict[str, Any] | None


class MessagingRepository:
    def __init__(self, session: AsyncSession, source: str) -> None:
        self.session = session
        self.source = source

    async def add_outbox(self, recorded: Sequence[tuple[DomainEvent, str]]) -> None:
        """The transaction's (event, topic) pairs as outbox rows (see `copy_outbox`)."""
        if recorded:
            await copy_outbox(await session_driver(self.session), self.source, recorded)

    async def record_message(
        self,
        source: str,
        message_id: str,
        message_type: str | None,
        payload: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Put a message in the inbox; False if it was there already (a duplicate)."""
        fresh = await self.record_messages(
            [InboxRecord(source, message_id, message_type, payload)], now
        )
        return bool(fresh)

    async def record_messages(
        self, records: Sequence[InboxRecord], now: datetime
    ) -> set[tuple[str, str]]:
        """Put messages in the inbox in one statement; returns the (source, id) pairs that
        were new (a repeat inside the batch is not). A concurrent twin waits on the
        primary key until this transaction ends."""
        if not records:
            return set()
        rows = await (await session_driver(self.session)).fetch(
            _RECORD_MESSAGES,
            [r.source for r in records],
            [r.message_id for r in records],
            [r.message_type for r in records],
            [orjson.dumps(r.payload).decode() if r.payload is not None else None for r in records],
            now,
        )
        return {(row["source"], row["message_id"]) for row in rows}

    async def set_outcomes(self, outcomes: Sequence[tuple[str, str, str]]) -> None:
        """(source, message id, outcome) for inbox rows of this transaction."""
        if outcomes:
            await (await session_driver(self.session)).execute(
                _SET_OUTCOMES, *(list(column) for column in zip(*outcomes, strict=True))
            )

    async def idempotency_key(self, user_id: str, key: str) -> IdempotencyKey | None:
        return await self.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )

    def remember(
        self,
        user_id: str,
        key: str,
        operation: str,
        request_hash: str,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        self.session.add(
            IdempotencyKey(
                user_id=user_id,
                key=key,
                operation=operation,
                request_hash=request_hash,
                response=response,
                created_at=now,
            )
        )


@dataclass(frozen=True)
class PendingEvent:
    id: int
    topic: str
    key: str
    value: bytes


# A batch's ids and keys travel as one array parameter each: an IN list would be one bound
# parameter per event (1,000 a batch) to render and send per statement.
_CLAIM_UNPUBLISHED = """
SELECT id, topic, key, convert_to(envelope::text, 'UTF8') AS value
FROM outbox WHERE published_at IS NULL
ORDER BY id LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_RECORD_MESSAGES = """
INSERT INTO processed_messages (source, message_id, message_type, payload, processed_at)
SELECT source, message_id, message_type, payload::jsonb, $5
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
    AS t(source, message_id, message_type, payload)
ON CONFLICT (source, message_id) DO NOTHING
RETURNING source, message_id
"""
_SET_OUTCOMES = """
UPDATE processed_messages p SET outcome = t.outcome
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(source, message_id, outcome)
WHERE p.source = t.source AND p.message_id = t.message_id
"""
_OUTBOX_COLUMNS = ["event_id", "topic", "key", "event_type", "envelope", "created_at"]
_FOREIGN_FIRST = (
    select(OutboxEvent.key, func.min(OutboxEvent.id))
    .where(
        OutboxEvent.published_at.is_(None),
        OutboxEvent.key == any_(bindparam("keys", type_=ARRAY(Text))),
        # NOT IN a subquery: PostgreSQL hashes it (a `<> ALL(array)` compares linearly).
        OutboxEvent.id.not_in(select(func.unnest(bindparam("mine", type_=ARRAY(BigInteger))))),
    )
    .group_by(OutboxEvent.key)
)
_MARK_PUBLISHED = (
    update(OutboxEvent)
    .where(OutboxEvent.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .values(published_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


class OutboxRepository:
    """SQL for the relay."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_unpublished(self, limit: int) -> Sequence[PendingEvent]:
        """The oldest unpublished events not held by another relay, as the bytes the
        broker gets (PostgreSQL writes the JSON text; no decode and re-encode here)."""
        rows = await (await session_driver(self.session)).fetch(_CLAIM_UNPUBLISHED, limit)
        return [PendingEvent(*row) for row in rows]

    async def publishable_in_order(
        self, claimed: Sequence[PendingEvent], held: Sequence[int] = ()
    ) -> list[PendingEvent]:
        """The claimed rows that come before any unpublished row of the same key that
        someone else holds (or that was written after our claim). `held` are rows this
        relay sends before these: they do not count as someone else's."""
        mine = [row.id for row in claimed]
        mine.extend(held)
        result = await self.session.execute(
            _FOREIGN_FIRST, {"keys": list({row.key for row in claimed}), "mine": mine}
        )
        foreign_first: dict[str, int] = {key: first for key, first in result}
        return [
            row
            for row in claimed
            if row.key not in foreign_first or row.id < foreign_first[row.key]
        ]

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None:
        await self.session.execute(_MARK_PUBLISHED, {"ids": list(ids), "now": now})

    async def prune(self, published_before: datetime) -> int:
        result = await self.session.execute(
            delete(OutboxEvent).where(
                OutboxEvent.published_at < published_before, OutboxEvent.position.is_not(None)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- the event log ---------------------------------------------------------------

SEQUENCER_LOCK = 7_100_001  # pg_advisory_xact_lock key of the one sequencer
SEQUENCE_BATCH = 5000

_SEQUENCE = """
WITH pending AS (
  SELECT id FROM outbox WHERE position IS NULL ORDER BY id LIMIT $1
), base AS (
  SELECT coalesce(max(position), 0) AS top FROM outbox WHERE position IS NOT NULL
)
UPDATE outbox o SET position = base.top + n.rank
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM pending) n, base
WHERE o.id = n.id
"""


@dataclass(frozen=True)
class LoggedEvent:
    position: int
    event_id: str
    event_type: str
    key: str
    envelope: dict[str, Any]
    created_at: datetime


async def sequence_log(session: AsyncSession, *, wait: bool = True) -> int:
    """Give positions to the committed rows waiting for one (up to a batch); returns how
    many. Without `wait`, another sequencer at work means there is nothing to do here.
    The caller commits. A row a relay holds while it publishes is waited for, so never
    call this from a session while the same task holds a relay batch."""
    driver = await session_driver(session)
    if wait:
        await driver.execute("SELECT pg_advisory_xact_lock($1)", SEQUENCER_LOCK)
    elif not await driver.fetchval("SELECT pg_try_advisory_xact_lock($1)", SEQUENCER_LOCK):
        return 0
    status = await driver.execute(_SEQUENCE, SEQUENCE_BATCH)
    return int(status.split()[-1])


async def log_page(
    session: AsyncSession,
    after: int,
    limit: int,
    *,
    types: Sequence[str] = (),
    key: str | None = None,
    since: datetime | None = None,
) -> list[LoggedEvent]:
    """Entries after position `after`, oldest first, narrowed by type, key and time."""
    clauses = ["position > :after"]
    values: dict[str, Any] = {"after": after, "limit": limit}
    if types:
        clauses.append("event_type = ANY(:types)")
        values["types"] = list(types)
    if key is not None:
        clauses.append("key = :key")
        values["key"] = key
    if since is not None:
        clauses.append("created_at >= :since")
        values["since"] = since
    query = text(
        "SELECT position, event_id, event_type, key, envelope::text AS envelope, created_at"
        f" FROM outbox WHERE position IS NOT NULL AND {' AND '.join(clauses)}"
        " ORDER BY position LIMIT :limit"
    )
    rows = (await session.execute(query, values)).all()
    return [
        LoggedEvent(
            row.position,
            row.event_id,
            row.event_type,
            row.key,
            orjson.loads(row.envelope),
            row.created_at,
        )
        for row in rows
    ]


async def position_of(session: AsyncSession, event_id: str) -> int | None:
    found = await session.scalar(
        text("SELECT position FROM outbox WHERE event_id = :id"), {"id": event_id}
    )
    return int(found) if found is not None else None


async def last_position(session: AsyncSession) -> int:
    found = await session.scalar(
        text("SELECT max(position) FROM outbox WHERE position IS NOT NULL")
    )
    return int(found or 0)


async def position_at(session: AsyncSession, moment: datetime) -> int:
    """The position just before the first entry written at or after `moment`."""
    found = await session.scalar(
        text("SELECT min(position) FROM outbox WHERE position IS NOT NULL AND created_at >= :at"),
        {"at": moment},
    )
    return int(found) - 1 if found is not None else await last_position(session)
