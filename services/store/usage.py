"""SQL for meters, plan quotas and usage. Counting is one guarded upsert per event
(`COUNT_AND_CLAIM_SQL`): the counter row's lock serializes concurrent events, and the
guard refuses an increment that would pass a hard limit, so usage is never over-granted
across processes. Counts that draw from quota packs lock the counter row first
(`lock_counter`); batches move each counter once (`add_to_counters`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import Meter, PlanQuota, UsageCounter, UsageEvent, UsageUniqueValue
from services.store.db import plan_as_key_lookups, session_driver


@dataclass(frozen=True)
class Overage:
    meter_key: str
    meter_name: str
    unit: str
    included_units: int
    used: int
    over: int  # past the included units and what packs covered
    unit_price_cents: int


class UsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Meter) -> None:
        self.session.add(row)

    async def meter(self, key: str) -> Meter | None:
        return await self.session.scalar(select(Meter).where(Meter.key == key))

    async def meters(self, *, include_archived: bool = False) -> Sequence[Meter]:
        query = select(Meter).order_by(Meter.key)
        if not include_archived:
            query = query.where(Meter.archived.is_(False))
        return (await self.session.scalars(query)).all()

    async def quota(self, plan_id: uuid.UUID, meter_id: uuid.UUID) -> PlanQuota | None:
        return await self.session.get(PlanQuota, (plan_id, meter_id))

    async def quotas_of_plans(
        self, plan_ids: Sequence[uuid.UUID]
    ) -> Sequence[tuple[PlanQuota, Meter]]:
        rows = await self.session.execute(
            select(PlanQuota, Meter)
            .join(Meter, Meter.id == PlanQuota.meter_id)
            .where(PlanQuota.plan_id.in_(plan_ids), Meter.archived.is_(False))
            .order_by(Meter.key)
        )
        return [(quota, meter) for quota, meter in rows]

    async def set_quota(self, values: dict[str, Any]) -> None:
        statement = insert(PlanQuota).values(values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["plan_id", "meter_id"],
                set_={k: v for k, v in values.items() if k not in ("plan_id", "meter_id")},
            )
        )

    async def claim_event(self, values: dict[str, Any]) -> bool:
        """Record an event by its id; False when the id is known (a concurrent twin
        is waited for: its answer is then readable)."""
        statement = insert(UsageEvent).values(values).on_conflict_do_nothing()
        inserted = await self.session.execute(statement.returning(UsageEvent.event_id))
        return inserted.scalar() is not None

    async def known_events(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (user id, event id) were recorded before."""
        if not keys:
            return set()
        driver = await session_driver(self.session)
        await plan_as_key_lookups(driver)  # not a scan of every event ever recorded
        found = await driver.fetch(KNOWN_EVENTS_SQL, [k[0] for k in keys], [k[1] for k in keys])
        return {(r["user_id"], r["event_id"]) for r in found}

    async def add_answered_events(self, rows: Sequence[dict[str, Any]]) -> int:
        """Record events with their answers (counted or refused), one statement; how
        many were new (fewer than given: a twin was recorded first)."""
        if not rows:
            return 0
        status = await (await session_driver(self.session)).execute(
            ADD_ANSWERED_EVENTS_SQL,
            [r["user_id"] for r in rows],
            [r["event_id"] for r in rows],
            [r["meter_id"] for r in rows],
            [r["quantity"] for r in rows],
            [r["request_hash"] for r in rows],
            [orjson.dumps(r["answer"]).decode() for r in rows],
            [r["period_start"] for r in rows],
            [r["occurred_at"] for r in rows],
            rows[0]["recorded_at"],
            [r["counted"] for r in rows],
        )
        return int(status.split()[-1])

    async def add_to_counters(
        self, sums: Sequence[tuple[str, uuid.UUID, datetime, datetime, int, int | None]]
    ) -> dict[tuple[str, uuid.UUID, datetime], int]:
        """Add each (user, meter, period start, period end, quantity, limit) to its
        counter, one statement; the counters' values after, by (user, meter, start). A
        sum that would take its counter past its limit (None: none) is not added, and
        its counter is missing from the answer. The rows are locked in key order, so
        two batches sharing counters wait for each other instead of deadlocking."""
        if not sums:
            return {}
        columns = [list(column) for column in zip(*sums, strict=True)]
        limited = any(limit is not None for limit in columns[5])
        found = await (await session_driver(self.session)).fetch(
            ADD_TO_LIMITED_COUNTERS_SQL if limited else ADD_TO_COUNTERS_SQL,
            *(columns if limited else columns[:5]),
        )
        return {(r["user_id"], r["meter_id"], r["period_start"]): int(r["used"]) for r in found}

    async def event(self, user_id: str, event_id: str) -> UsageEvent | None:
        return await self.session.get(UsageEvent, (user_id, event_id), populate_existing=True)

    async def answer_event(
        self, user_id: str, event_id: str, counted: bool, answer: dict[str, Any]
    ) -> None:
        await self.session.execute(
            update(UsageEvent)
            .where(UsageEvent.user_id == user_id, UsageEvent.event_id == event_id)
            .values(counted=counted, answer=answer)
        )

    async def lock_counter(
        self, user_id: str, meter_id: uuid.UUID, period: tuple[datetime, datetime]
    ) -> tuple[int, int]:
        """The counter's (used, pack units), its row created if new and locked until the
        transaction ends: counts that draw from packs go one at a time."""
        new = insert(UsageCounter).values(
            user_id=user_id, meter_id=meter_id, period_start=period[0], period_end=period[1], used=0
        )
        locking = new.on_conflict_do_update(
            index_elements=["user_id", "meter_id", "period_start"],
            set_={"used": UsageCounter.__table__.c.used},
        ).returning(UsageCounter.used, UsageCounter.pack_units)
        used, pack_units = (await self.session.execute(locking)).one()
        return int(used), int(pack_units)

    async def set_counter(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime, used: int, pack_units: int
    ) -> None:
        await self.session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.user_id == user_id,
                UsageCounter.meter_id == meter_id,
                UsageCounter.period_start == period_start,
            )
            .values(used=used, pack_units=pack_units)
        )

    async def used(self, user_id: str, meter_id: uuid.UUID, period_start: datetime) -> int:
        return (await self.counter(user_id, meter_id, period_start))[0]

    async def counter(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime
    ) -> tuple[int, int]:
        """(used, of it covered by packs) in the period; zeros before any usage."""
        found = (
            await self.session.execute(
                select(UsageCounter.used, UsageCounter.pack_units).where(
                    UsageCounter.user_id == user_id,
                    UsageCounter.meter_id == meter_id,
                    UsageCounter.period_start == period_start,
                )
            )
        ).first()
        return (int(found[0]), int(found[1])) if found else (0, 0)

    async def first_sighting(
        self, user_id: str, meter_id: uuid.UUID, period_start: datetime, value: str
    ) -> bool:
        """Whether a UNIQUE_COUNT value is new in the period (and now remembered)."""
        statement = (
            insert(UsageUniqueValue)
            .values(user_id=user_id, meter_id=meter_id, period_start=period_start, value=value)
            .on_conflict_do_nothing()
            .returning(UsageUniqueValue.value)
        )
        return (await self.session.execute(statement)).scalar() is not None

    async def overages(
        self, periods: Sequence[tuple[str, uuid.UUID, datetime]]
    ) -> dict[tuple[str, datetime], list[Overage]]:
        """Usage past the included units of soft-limited quotas, for (user id, plan id,
        period start) triples, in one statement: what a renewal bills."""
        if not periods:
            return {}
        keys = tuple_(UsageCounter.user_id, PlanQuota.plan_id, UsageCounter.period_start)
        rows = await self.session.execute(
            select(
                UsageCounter.user_id,
                UsageCounter.period_start,
                Meter.key,
                Meter.name,
                Meter.unit,
                PlanQuota.included_units,
                UsageCounter.used,
                UsageCounter.used - PlanQuota.included_units - UsageCounter.pack_units,
                PlanQuota.overage_unit_price_cents,
            )
            .join(Meter, Meter.id == UsageCounter.meter_id)
            .join(PlanQuota, PlanQuota.meter_id == UsageCounter.meter_id)
            .where(
                keys.in_(periods),
                PlanQuota.hard_limit.is_(False),
                PlanQuota.included_units.is_not(None),
                UsageCounter.used > PlanQuota.included_units + UsageCounter.pack_units,
                PlanQuota.overage_unit_price_cents > 0,
            )
            .order_by(Meter.key)
        )
        found: dict[tuple[str, datetime], list[Overage]] = {}
        for user_id, start, key, name, unit, included, used, over, price in rows:
            found.setdefault((user_id, start), []).append(
                Overage(key, name, unit, int(included or 0), int(used), int(over), int(price))
            )
        return found


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


USED_SQL = """
SELECT used FROM usage_counters WHERE user_id = $1 AND meter_id = $2 AND period_start = $3
"""


KNOWN_EVENTS_SQL = """
SELECT e.user_id, e.event_id FROM usage_events e
JOIN unnest($1::text[], $2::text[]) AS k(u, i) ON e.user_id = k.u AND e.event_id = k.i
"""
# Events written once, answers included (the counters went first).
ADD_ANSWERED_EVENTS_SQL = """
INSERT INTO usage_events (user_id, event_id, meter_id, quantity, request_hash, counted,
                          answer, period_start, occurred_at, recorded_at)
SELECT u, e, m, q, h, c, a, p, o, $9
FROM unnest($1::text[], $2::text[], $3::uuid[], $4::bigint[], $5::text[], $6::jsonb[],
            $7::timestamptz[], $8::timestamptz[], $10::bool[]) AS t(u, e, m, q, h, a, p, o, c)
ON CONFLICT DO NOTHING
"""
ADD_TO_COUNTERS_SQL = """
INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
SELECT u, m, s, e, q, 0
FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])
     AS t(u, m, s, e, q)
ORDER BY u, m, s
ON CONFLICT (user_id, meter_id, period_start)
DO UPDATE SET used = usage_counters.used + excluded.used
RETURNING user_id, meter_id, period_start, used
"""
# The same, each sum guarded by its limit. A new counter is not checked against it: the
# caller never sends a sum larger than its limit. (The limit is looked up per updated
# row: fine for a group commit's batch, which is why limitless batches use the above.)
ADD_TO_LIMITED_COUNTERS_SQL = """
WITH sums AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],
                       $5::bigint[], $6::bigint[]) AS t(u, m, s, e, q, l)
)
INSERT INTO usage_counters (user_id, meter_id, period_start, period_end, used, pack_units)
SELECT u, m, s, e, q, 0 FROM sums ORDER BY u, m, s
ON CONFLICT (user_id, meter_id, period_start)
DO UPDATE SET used = usage_counters.used + excluded.used
WHERE usage_counters.used + excluded.used <= coalesce(
  (SELECT l FROM sums WHERE sums.u = excluded.user_id AND sums.m = excluded.meter_id
                        AND sums.s = excluded.period_start),
  9223372036854775807)
RETURNING user_id, meter_id, period_start, used
"""
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
