"""SQL for the event log: every outbox row is an entry, ordered by `position`.

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

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.store.db import session_driver

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


async def sequence(session: AsyncSession, *, wait: bool = True) -> int:
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


async def page(
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
