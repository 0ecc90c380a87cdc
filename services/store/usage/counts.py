"""One event counted by one statement on a plain asyncpg connection (the hot path of
`consumeQuota` when it goes alone), a refused one stored, counters read in one query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

# The hot path's count and its event row in one statement: the counter moves (guarded
# by the limit), then the event is stored with its answer built from the new value. A
# known event id inserts nothing, and the caller rolls the transaction back (the count
# with it); a refused guard inserts nothing at all.
COUNT_AND_CLAIM_SQL = """
WITH counted AS (
  INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
  VALUES ($1, $2, $3, $4, $5, 0)
  ON CONFLICT (user_id, meter_id, period_start)
  DO UPDATE SET used = usage_counters.used + excluded.used
  WHERE $6::bigint IS NULL OR usage_counters.used + excluded.used <= $6::bigint
  RETURNING used
), claimed AS (
  INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                            answer, period_start, occurred_at, recorded_at)
  SELECT $1, $7, $2, $5, $8, true,
         jsonb_build_object(
           'allowed', true, 'used', used, 'reason', NULL, 'resetsAt', $9::text,
           'remaining', CASE WHEN $10::bigint IS NULL THEN NULL
                             ELSE greatest($10::bigint - used, 0) END),
         $3, $11, $12
  FROM counted
  ON CONFLICT DO NOTHING
  RETURNING 1
)
SELECT (SELECT used FROM counted) AS used, (SELECT count(*) FROM claimed) AS claimed
"""


async def count_and_claim(
    connection: asyncpg.Connection,
    values: dict[str, Any],
) -> tuple[int | None, bool]:
    """(the counter after, whether the event was new); (None, False) when the limit
    refused it. Run it in a transaction: a replay must roll its count back."""
    row = await connection.fetchrow(
        COUNT_AND_CLAIM_SQL,
        values["user_id"],
        values["meter_id"],
        values["period_start"],
        values["period_end"],
        values["quantity"],
        values["limit"],
        values["event_id"],
        values["request_hash"],
        values["resets_at"],
        values["included_units"],
        values["occurred_at"],
        values["recorded_at"],
    )
    assert row is not None
    used = row["used"]
    return (int(used) if used is not None else None), bool(row["claimed"])


CLAIM_REFUSED_SQL = """
INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                          answer, period_start, occurred_at, recorded_at)
VALUES ($1, $2, $3, $4, $5, false, $6::jsonb, $7, $8, $9)
ON CONFLICT DO NOTHING
RETURNING 1
"""


async def claim_refused(connection: asyncpg.Connection, row: dict[str, Any]) -> bool:
    """Store a refused event with its answer; False when its id is known (a replay)."""
    inserted = await connection.fetchval(
        CLAIM_REFUSED_SQL,
        row["user_id"],
        row["event_id"],
        row["meter_id"],
        row["quantity"],
        row["request_hash"],
        orjson.dumps(row["answer"]).decode(),
        row["period_start"],
        row["occurred_at"],
        row["recorded_at"],
    )
    return inserted is not None


USED_MANY_SQL = """
SELECT k.i, coalesce(c.used, 0) AS used
FROM unnest($1::text[], $2::uuid[], $3::timestamptz[]) WITH ORDINALITY AS k(u, m, s, i)
LEFT JOIN usage_counters c ON c.user_id = k.u AND c.meter_id = k.m AND c.period_start = k.s
ORDER BY k.i
"""


async def used_many(
    connection: asyncpg.Connection, counters: Sequence[tuple[str, uuid.UUID, datetime]]
) -> list[int]:
    """Each (user, meter, period start) counter's value, in order (0: none yet)."""
    columns = [list(column) for column in zip(*counters, strict=True)] or [[], [], []]
    return [int(row["used"]) for row in await connection.fetch(USED_MANY_SQL, *columns)]
