"""A big batch of usage events (the consumer's thousands, a REST batch) counted by two
statements; a group commit's few go by one (services/store/usage/together.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.store.usage.together import CountedRow, Terms

# Many events, two statements. First each counter moves once by its events' sum (refused
# ones aside), guarded by its limit (a new counter takes only a sum within it), rows
# locked in key order: batches sharing counters wait, never deadlock. Then every event
# whose counter moved goes in with its answer, its counter as it stood after it in the
# batch's order (worked out here from each counter's new value, as one after the other),
# and every refused one with its refusal. The terms (meter, period, limit) are sent once
# each and named by place from the events. One statement doing both (COUNT_TOGETHER_SQL)
# saves a round trip, which counts for a group commit's few events; for thousands its
# window sum and the stored rows joined back cost more than the round trip.
MOVE_COUNTERS_SQL = """
WITH sums AS (
  SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],
                       $5::bigint[], $6::bigint[]) AS t(u, m, s, pe, q, l)
)
INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
SELECT u, m, s, pe, q, 0 FROM sums WHERE l IS NULL OR q <= l ORDER BY u, m, s
ON CONFLICT (user_id, meter_id, period_start)
DO UPDATE SET used = usage_counters.used + excluded.used
WHERE NOT $7::bool  -- no limits: no lookup per row (a consumer's batch has thousands)
   OR usage_counters.used + excluded.used <= coalesce(
     (SELECT l FROM sums WHERE sums.u = excluded.user_id AND sums.m = excluded.meter_id
                           AND sums.s = excluded.period_start),
     9223372036854775807)
RETURNING user_id, meter_id, period_start, used
"""
STORE_EVENTS_SQL = """
WITH stored AS (
  INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                            answer, period_start, occurred_at, recorded_at)
  SELECT u, e, ($9::uuid[])[k], q, h, refused IS NULL,
         coalesce(refused, jsonb_build_object(
           'allowed', true, 'used', a, 'reason', NULL, 'resetsAt', ($12::text[])[k],
           'remaining', CASE WHEN ($11::bigint[])[k] IS NULL THEN NULL
                             ELSE greatest(($11::bigint[])[k] - a, 0) END)),
         ($10::timestamptz[])[k], o, $13::timestamptz
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[],
              $6::int[], $7::bigint[], $8::jsonb[]) AS t(u, e, q, h, o, k, a, refused)
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT count(*) FROM stored
"""


async def count_many(
    connection: asyncpg.Connection, rows: Sequence[CountedRow], now: datetime
) -> tuple[list[int | None], int]:
    """Each event's counter after it (None: not counted), in order, and how many event
    rows were stored: see MOVE_COUNTERS_SQL. Run it in a transaction: a known id means
    the caller rolls back and asks again."""
    counters = [(r.user_id, r.terms.meter_id, r.terms.period[0]) for r in rows]
    sums: dict[tuple[str, uuid.UUID, datetime], list[Any]] = {}  # [sum, period end, limit]
    for r, key in zip(rows, counters, strict=True):
        if r.refused_answer is None:
            found = sums.get(key)
            if found is None:
                sums[key] = [r.quantity, r.terms.period[1], r.terms.limit]
            else:
                found[0] += r.quantity
                found[1] = max(found[1], r.terms.period[1])
                if r.terms.limit is not None:
                    found[2] = r.terms.limit if found[2] is None else min(found[2], r.terms.limit)
    moved = await connection.fetch(
        MOVE_COUNTERS_SQL,
        [k[0] for k in sums],
        [k[1] for k in sums],
        [k[2] for k in sums],
        [v[1] for v in sums.values()],
        [v[0] for v in sums.values()],
        [v[2] for v in sums.values()],
        any(v[2] is not None for v in sums.values()),
    )
    # Each event's answer: its counter's new value less what came after it in the batch.
    standing = {(m[0], m[1], m[2]): m[3] for m in moved}
    afters: list[int | None] = [None] * len(rows)
    for index in range(len(rows) - 1, -1, -1):
        r, key = rows[index], counters[index]
        if r.refused_answer is None and key in standing:
            afters[index] = standing[key]
            standing[key] -= r.quantity
    kept = [
        (r, after)
        for r, after in zip(rows, afters, strict=True)
        if after is not None or r.refused_answer is not None
    ]
    if not kept:
        return afters, 0
    numbers: dict[Terms, int] = {}
    stored = await connection.fetchval(
        STORE_EVENTS_SQL,
        [r.user_id for r, _ in kept],
        [r.event_id for r, _ in kept],
        [r.quantity for r, _ in kept],
        [r.request_hash for r, _ in kept],
        [r.occurred_at for r, _ in kept],
        [numbers.setdefault(r.terms, len(numbers) + 1) for r, _ in kept],
        [after for _, after in kept],
        [
            None if r.refused_answer is None else orjson.dumps(r.refused_answer).decode()
            for r, _ in kept
        ],
        [t.meter_id for t in numbers],
        [t.period[0] for t in numbers],
        [t.included_units for t in numbers],
        [t.period[1].isoformat() for t in numbers],
        now,
    )
    return afters, stored
