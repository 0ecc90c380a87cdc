"""Usage events counted together in one transaction: the rows they are sent as, one
statement for a group commit's few (big batches: many.py), and the lookup of ids
recorded before."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson

from services.store.db import plan_as_key_lookups

KNOWN_EVENTS_SQL = """
SELECT e.user_id, e.event_id, e.request_hash, e.answer FROM usage_events e
JOIN unnest($1::text[], $2::text[]) AS k(u, i) ON e.user_id = k.u AND e.event_id = k.i
"""


async def known_events(
    connection: asyncpg.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(request hash, answer) of those of these (user id, event id) recorded before."""
    await plan_as_key_lookups(connection)  # not a scan of every event ever recorded
    found = await connection.fetch(KNOWN_EVENTS_SQL, [k[0] for k in keys], [k[1] for k in keys])
    return {
        (r["user_id"], r["event_id"]): (r["request_hash"], orjson.loads(r["answer"])) for r in found
    }


# Many events, one statement. Each counter moves once by its events' sum (refused ones
# aside), guarded by its limit (a new counter takes only a sum within it), rows locked in
# key order: batches sharing counters wait, never deadlock. Every event is stored with
# its answer: its counter as it stood after it, in the batch's order. One row per event,
# in order: `after` (null: its counter did not move), and how many rows were stored
# (fewer than were sent: an id was recorded first, and the caller rolls back). The
# terms (meter, period, limit) are sent once each and named by place from the events:
# a batch holds many events and few terms, and each value sent costs encoding.
COUNT_TOGETHER_SQL = """
WITH items AS MATERIALIZED (
  SELECT u, e, ($8::uuid[])[k] AS m, q, h, ($9::timestamptz[])[k] AS s,
         ($10::timestamptz[])[k] AS pe, o, ($11::bigint[])[k] AS l, ($12::bigint[])[k] AS inc,
         ($13::text[])[k] AS resets, refused, i
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[],
              $6::int[], $7::jsonb[])
    WITH ORDINALITY AS t(u, e, q, h, o, k, refused, i)
), sums AS MATERIALIZED (
  SELECT u, m, s, max(pe) AS pe, sum(q)::bigint AS q, min(l) AS l
  FROM items WHERE refused IS NULL GROUP BY u, m, s
), moved AS (
  INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
  SELECT u, m, s, pe, q, 0 FROM sums WHERE l IS NULL OR q <= l ORDER BY u, m, s
  ON CONFLICT (user_id, meter_id, period_start)
  DO UPDATE SET used = usage_counters.used + excluded.used
  WHERE NOT $15::bool  -- no limits: no lookup per row (a consumer's batch has 1,000)
     OR usage_counters.used + excluded.used <= coalesce(
       (SELECT l FROM sums WHERE sums.u = excluded.user_id AND sums.m = excluded.meter_id
                             AND sums.s = excluded.period_start),
       9223372036854775807)
  RETURNING user_id, meter_id, period_start, used
), answered AS (
  SELECT items.*, (moved.used - coalesce(sum(items.q) OVER (
           PARTITION BY items.u, items.m, items.s ORDER BY items.i DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::bigint AS after
  FROM items JOIN moved
    ON moved.user_id = items.u AND moved.meter_id = items.m AND moved.period_start = items.s
  WHERE items.refused IS NULL
), stored AS (
  INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                            answer, period_start, occurred_at, recorded_at)
  SELECT u, e, m, q, h, true,
         jsonb_build_object(
           'allowed', true, 'used', after, 'reason', NULL, 'resetsAt', resets,
           'remaining', CASE WHEN inc IS NULL THEN NULL ELSE greatest(inc - after, 0) END),
         s, o, $14::timestamptz
  FROM answered
  UNION ALL
  SELECT u, e, m, q, h, false, refused, s, o, $14::timestamptz FROM items WHERE refused IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT answered.after, (SELECT count(*) FROM stored) AS stored
FROM items LEFT JOIN answered ON answered.i = items.i
ORDER BY items.i
"""


class Terms(NamedTuple):
    """What a counter's events share: its meter and period, and its limit."""

    meter_id: uuid.UUID
    period: tuple[datetime, datetime]
    limit: int | None
    included_units: int | None


class CountedRow(NamedTuple):  # a tuple: built once per event, cheaper than a dataclass
    """One event for `count_together`: a refused one carries its answer already."""

    user_id: str
    event_id: str
    quantity: int
    request_hash: str
    occurred_at: datetime
    terms: Terms
    refused_answer: dict[str, Any] | None


async def count_together(
    connection: asyncpg.Connection, rows: Sequence[CountedRow], now: datetime
) -> tuple[list[int | None], int]:
    """Each event's counter after it (None: not counted), in order, and how many event
    rows were stored: see COUNT_TOGETHER_SQL. Run it in a transaction: a known id means
    the caller rolls back and asks again. For a few rows (a group commit): the cached
    statement's generic plan suits them (1.0 ms against 1.5 planned for 16 rows), and
    big batches go to services/store/usage/many.py."""
    numbers: dict[Terms, int] = {}
    found = await connection.fetch(
        COUNT_TOGETHER_SQL,
        [r.user_id for r in rows],
        [r.event_id for r in rows],
        [r.quantity for r in rows],
        [r.request_hash for r in rows],
        [r.occurred_at for r in rows],
        [numbers.setdefault(r.terms, len(numbers) + 1) for r in rows],
        [
            None if r.refused_answer is None else orjson.dumps(r.refused_answer).decode()
            for r in rows
        ],
        [t.meter_id for t in numbers],
        [t.period[0] for t in numbers],
        [t.period[1] for t in numbers],
        [t.limit for t in numbers],
        [t.included_units for t in numbers],
        [t.period[1].isoformat() for t in numbers],
        now,
        any(t.limit is not None for t in numbers),
    )
    return [row[0] for row in found], found[0][1] if found else 0
