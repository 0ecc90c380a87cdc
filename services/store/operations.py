"""SQL for what the console and operators watch: the key figures (services/reads/metrics.py
says what they mean), on a plain asyncpg connection: revenue (MRR, its movement and the
series) in one statement, the counts in one each; worker heartbeats, backlogs and the
global test clock's offset; and the test clocks customers are attached to."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from sqlalchemy import ColumnElement, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import ClockOffset, OutboxEvent, TestClock, TestClockCustomer, WorkerHeartbeat

MONTH_SECONDS = 2629746  # 365.2425 days / 12

# Lines that make up recurring revenue, each with its monthly amount and its period. A
# line is normalized by its plan's interval, not by its period's length: a 10.00 monthly
# plan is 10.00 of MRR whether its month has 28 or 31 days; a yearly one a twelfth; a
# weekly one 52 / 12 of it (by the average month, 365.2425 / 12 days).
_MONTHLY = f"""l.amount_cents::numeric * CASE p.interval
           WHEN 'MONTH' THEN 1.0 / p.interval_count
           WHEN 'YEAR' THEN 1.0 / (12 * p.interval_count)
           WHEN 'WEEK' THEN {MONTH_SECONDS}.0 / (7 * 86400 * p.interval_count)
           ELSE {MONTH_SECONDS}.0 / (86400 * p.interval_count) END"""
# The length of a plan's period ending at l.period_end: what a prorated line was a part of.
_PERIOD = """CASE p.interval
           WHEN 'MONTH' THEN make_interval(months => p.interval_count)
           WHEN 'YEAR' THEN make_interval(years => p.interval_count)
           WHEN 'WEEK' THEN make_interval(weeks => p.interval_count)
           ELSE make_interval(days => p.interval_count) END"""
# A line stops counting where its subscription ended (a cancellation now), where its
# time moved over to an upgrade (`time_credited_at` with a PRORATION credit note) or
# where its subscription began a new period (a new period bought now). An upgrade's
# prorated charge counts at its plan's full monthly amount from the change: scaled from
# the part of the period it charged to the whole period. (An immediate downgrade
# credits the difference to the balance and bills the new plan from the renewal: its
# old line counts until then.)
# A paused subscription stays in MRR (Polar's definition; a pause is not churn): from
# the end of the period it paused in until the next change of its status (the resume,
# or an end), at the monthly amount of the lines it paused with. Open pauses run past `to`
# ($2 + 1 day stands for "not over").
_LINES = f"""
paid AS (
  SELECT i.subscription_id AS sub, l.period_start AS ps, l.kind <> 'DISCOUNT' AS is_plan,
         l.plan_code AS plan, s.cancel_at_period_end AS leaving,
         least(l.period_end, s.current_period_end,
           -- its time moved over to an upgrade (the upgrade's line counts from there)
           CASE WHEN i.time_credited_at IS NOT NULL AND EXISTS (SELECT 1 FROM credit_notes n
               WHERE n.invoice_id = i.id AND n.kind = 'PRORATION' AND n.voided_at IS NULL)
             THEN i.time_credited_at ELSE 'infinity' END,
           -- a new period begun before this one ended (a new period bought now)
           CASE WHEN l.period_start < s.current_period_start
             THEN s.current_period_start ELSE 'infinity' END) AS pe,
         {_MONTHLY} * CASE WHEN l.kind = 'PRORATION_CHARGE'
           THEN extract(epoch FROM l.period_end - (l.period_end - {_PERIOD}))
             / extract(epoch FROM l.period_end - l.period_start)
           ELSE 1 END AS monthly
  FROM invoice_lines l
  JOIN invoices i ON i.id = l.invoice_id
  JOIN subscriptions s ON s.id = i.subscription_id
  JOIN plans p ON p.code = l.plan_code
  WHERE l.kind IN ('SUBSCRIPTION', 'DISCOUNT', 'PRORATION_CHARGE')
    AND i.status IN ('PAID', 'OPEN') AND l.period_end > l.period_start
    AND l.period_start <= $2 AND l.period_end > $1  -- only lines that can cover the range
),
pauses AS (
  SELECT h.subscription_id AS sub, h.occurred_at AS p, coalesce(
    (SELECT min(n.occurred_at) FROM subscription_history n
      WHERE n.subscription_id = h.subscription_id AND n.occurred_at > h.occurred_at),
    $2 + interval '1 day') AS r
  FROM subscription_history h WHERE h.to_status = 'PAUSED' AND h.occurred_at <= $2
),
lines AS MATERIALIZED (
  SELECT sub, ps, is_plan, plan, leaving, pe, monthly FROM paid
  UNION ALL
  SELECT z.sub, greatest(l.period_end, z.p), l.kind = 'SUBSCRIPTION', l.plan_code, false,
         z.r, {_MONTHLY}
  FROM pauses z
  JOIN invoices i ON i.subscription_id = z.sub AND i.status IN ('PAID', 'OPEN')
  JOIN invoice_lines l ON l.invoice_id = i.id AND l.kind IN ('SUBSCRIPTION', 'DISCOUNT')
    AND l.period_start <= z.p AND z.p < l.period_end
  JOIN plans p ON p.code = l.plan_code
  WHERE z.r > greatest(l.period_end, z.p) AND z.r > $1
)"""

# Movement and series in one statement over one pass of the range's lines.
# Movement: each subscription's MRR at `from` ($1) and at `to` ($2). Series, by
# differences: a line adds its monthly amount from the first point it covers and takes it
# back after the last ($3 seconds apart, $4 points), so one pass gives every point (a
# join of points and lines would be points x lines).
REVENUE_SQL = f"""
WITH {_LINES},
at_from AS (SELECT sub, sum(monthly) AS m FROM lines WHERE ps <= $1 AND $1 < pe GROUP BY sub),
at_to AS (
  SELECT sub, sum(monthly) AS m, bool_or(leaving) AS leaving
  FROM lines WHERE ps <= $2 AND $2 < pe GROUP BY sub
),
moved AS (
  SELECT coalesce(f.m, 0) AS a, coalesce(t.m, 0) AS b, coalesce(t.leaving, false) AS leaving
  FROM at_from f FULL JOIN at_to t ON f.sub = t.sub
),
spans AS (
  SELECT greatest(0, ceil(extract(epoch FROM ps - $1) / $3))::int AS k1,
         least($4, ceil(extract(epoch FROM pe - $1) / $3))::int AS k2,
         monthly, is_plan
  FROM lines WHERE pe > $1 AND ps <= $2
),
edges AS (
  SELECT k, sum(d) AS mrr_delta, sum(c) AS active_delta FROM (
    SELECT k1 AS k, monthly AS d, is_plan::int AS c FROM spans WHERE k1 < k2
    UNION ALL
    SELECT k2, -monthly, -is_plan::int FROM spans WHERE k1 < k2
  ) e GROUP BY k
)
SELECT
  (SELECT round(coalesce(sum(b), 0)) FROM moved) AS mrr,
  (SELECT round(coalesce(sum(b) FILTER (WHERE a = 0 AND b > 0), 0)) FROM moved) AS new,
  (SELECT round(coalesce(sum(b - a) FILTER (WHERE a > 0 AND b > a), 0)) FROM moved) AS expansion,
  (SELECT round(coalesce(sum(a - b) FILTER (WHERE b > 0 AND a > b), 0)) FROM moved) AS contraction,
  (SELECT round(coalesce(sum(a) FILTER (WHERE a > 0 AND b = 0), 0)) FROM moved) AS churn,
  (SELECT round(coalesce(sum(b) FILTER (WHERE NOT leaving), 0)) FROM moved) AS committed,
  (SELECT count(*) FILTER (WHERE a > 0) FROM moved) AS paying_before,
  (SELECT count(*) FILTER (WHERE b > 0) FROM moved) AS paying,
  (SELECT count(*) FILTER (WHERE a > 0 AND b = 0) FROM moved) AS churned,
  (SELECT array_agg(k ORDER BY k) FROM edges) AS ks,
  (SELECT array_agg(mrr_delta ORDER BY k) FROM edges) AS mrr_deltas,
  (SELECT array_agg(active_delta ORDER BY k) FROM edges) AS active_deltas,
  -- paying subscriptions per plan at `to` (trials have no lines: they are not counted)
  (SELECT json_object_agg(plan, n) FROM (
     SELECT plan, count(DISTINCT sub) AS n FROM lines
     WHERE is_plan AND ps <= $2 AND $2 < pe GROUP BY plan) p) AS by_plan
"""

BY_STATUS_SQL = """
SELECT status, count(*) AS n FROM subscriptions WHERE is_current GROUP BY status ORDER BY status
"""

# Each subscription's status at a past moment, from its history (ended ones left out,
# as the current counts leave them out).
BY_STATUS_AT_SQL = """
SELECT status, count(*) AS n FROM (
  SELECT DISTINCT ON (subscription_id) to_status AS status FROM subscription_history
  WHERE occurred_at <= $1 ORDER BY subscription_id, occurred_at DESC, id DESC
) h WHERE status NOT IN ('EXPIRED', 'FAILED') GROUP BY status ORDER BY status
"""

TRIALS_SQL = """
SELECT count(*) AS ended,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM payments p WHERE p.order_id = s.id
           AND p.purpose = 'TRIAL_CONVERSION' AND p.status_literal = 'success')) AS converted
FROM subscriptions s
WHERE s.trial_end >= $1 AND s.trial_end < $2 AND s.trial_end <= $3 AND s.trial_start IS NOT NULL
"""

PAST_DUE_SQL = """
SELECT coalesce(sum(i.total_cents - i.amount_paid_cents), 0)
FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
WHERE i.status = 'OPEN' AND s.status = 'PAST_DUE'
"""


async def fetch_metrics(
    connection: asyncpg.Connection,
    start: datetime,
    end: datetime,
    step: timedelta,
    points: int,
    now: datetime,
) -> dict[str, Any]:
    revenue = await connection.fetchrow(REVENUE_SQL, start, end, step.total_seconds(), points)
    assert revenue is not None
    edges = zip(
        revenue["ks"] or [],
        revenue["mrr_deltas"] or [],
        revenue["active_deltas"] or [],
        strict=True,
    )
    by_plan = orjson.loads(revenue["by_plan"]) if revenue["by_plan"] else {}
    by_status = (
        await connection.fetch(BY_STATUS_SQL)
        if end >= now
        else await connection.fetch(BY_STATUS_AT_SQL, end)
    )
    return {
        "moved": revenue,
        "edges": [{"k": k, "mrr_delta": m, "active_delta": a} for k, m, a in edges],
        "by_status": by_status,
        "by_plan": [{"code": code, "n": n} for code, n in sorted(by_plan.items())],
        "trials": await connection.fetchrow(TRIALS_SQL, start, end, now),
        "past_due": await connection.fetchval(PAST_DUE_SQL),
    }


class OperationsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_heartbeats(self, worker: str, beats: Mapping[str, datetime]) -> None:
        rows = [{"loop": loop, "worker": worker, "beat_at": at} for loop, at in beats.items()]
        statement = insert(WorkerHeartbeat).values(rows)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["loop", "worker"], set_={"beat_at": statement.excluded.beat_at}
            )
        )

    async def forget_heartbeats_before(self, moment: datetime) -> None:
        await self.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < moment))

    async def latest_heartbeats(self) -> dict[str, datetime]:
        """Each loop's latest beat, whichever worker ran it."""
        rows = await self.session.execute(
            select(WorkerHeartbeat.loop, func.max(WorkerHeartbeat.beat_at)).group_by(
                WorkerHeartbeat.loop
            )
        )
        return {loop: at for loop, at in rows}

    async def unpublished_events(self) -> tuple[int, datetime | None]:
        """How many outbox events wait for the relay, and when the oldest was written."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(OutboxEvent.created_at)).where(
                    OutboxEvent.published_at.is_(None)
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def clock_offset(self) -> timedelta | None:
        found = await self.session.scalar(select(ClockOffset.offset_microseconds))
        return None if found is None else timedelta(microseconds=found)

    async def save_clock_offset(self, offset: timedelta) -> None:
        microseconds = offset // timedelta(microseconds=1)
        statement = insert(ClockOffset).values(id=1, offset_microseconds=microseconds)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"], set_={"offset_microseconds": microseconds}
            )
        )


@dataclass(frozen=True)
class DueScope:
    """Whose due work a scheduler run takes. With test clocks off (production) everyone's;
    with them on, a run at real time leaves clocked customers alone and a clock's
    advance takes its own customers only. `user_id` narrows it to one customer (a
    payment retried now)."""

    clocks_on: bool = False
    clock_id: uuid.UUID | None = None
    user_id: str | None = None

    def users(self, user_id: Any) -> ColumnElement[bool] | None:
        """The condition on a row's user, or None when every user is in scope."""
        if self.user_id is not None:
            return user_id == self.user_id  # type: ignore[no-any-return]
        if not self.clocks_on:
            return None
        attached = select(TestClockCustomer.user_id).where(TestClockCustomer.user_id == user_id)
        if self.clock_id is None:
            return ~exists(attached)
        return exists(attached.where(TestClockCustomer.test_clock_id == self.clock_id))

    def sql(self, user_column: str) -> str:
        """The same condition as SQL text for hand-written statements ('' when none).
        Only the scheduler's own scopes come here: a one-customer run takes the general
        path (its user id is never written into SQL text)."""
        if self.user_id is not None:
            return "AND false"
        if not self.clocks_on:
            return ""
        attached = f"SELECT 1 FROM test_clock_customers t WHERE t.user_id = {user_column}"
        if self.clock_id is None:
            return f"AND NOT EXISTS ({attached})"
        return f"AND EXISTS ({attached} AND t.test_clock_id = '{self.clock_id}'::uuid)"


EVERYONE = DueScope()  # test clocks off: every customer is on real time


# A deleted clock's customers' rows, children first (user column per table).
_CUSTOMER_ROWS = (
    ("credit_notes", "user_id"),
    ("refunds", "user_id"),
    ("credit_ledger", "user_id"),
    ("payments", "owner_id"),
    ("subscription_history", "user_id"),
    ("subscription_discounts", "user_id"),
    ("quota_pack_units", "user_id"),
    ("invoices", "user_id"),
    ("checkout_sessions", "user_id"),
    ("charge_deferrals", "user_id"),
    ("usage_unique_values", "user_id"),
    ("usage_events", "user_id"),
    ("usage_counters", "user_id"),
    ("subscriptions", "user_id"),
    ("quota_packs", "user_id"),
    ("customer_prices", "user_id"),
    ("payment_methods", "user_id"),
    ("payment_customers", "user_id"),
    ("idempotency_keys", "user_id"),
    ("credit_balances", "user_id"),
    ("outbox", "key"),
)


class TestClockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, clock: TestClock) -> None:
        self.session.add(clock)

    async def get(self, clock_id: uuid.UUID, *, lock: bool = False) -> TestClock | None:
        query = select(TestClock).where(TestClock.id == clock_id)
        return await self.session.scalar(query.with_for_update() if lock else query)

    async def all(self) -> Sequence[TestClock]:
        return (await self.session.scalars(select(TestClock).order_by(TestClock.created_at))).all()

    async def advancing(self) -> Sequence[uuid.UUID]:
        """Clocks whose advance was left unfinished (its process died)."""
        query = select(TestClock.id).where(TestClock.status == "ADVANCING")
        return (await self.session.scalars(query)).all()

    async def customers(self, clock_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        rows = await self.session.execute(
            select(TestClockCustomer.test_clock_id, TestClockCustomer.user_id)
            .where(TestClockCustomer.test_clock_id.in_(clock_ids))
            .order_by(TestClockCustomer.user_id)
        )
        found: dict[uuid.UUID, list[str]] = {clock_id: [] for clock_id in clock_ids}
        for clock_id, user_id in rows:
            found[clock_id].append(user_id)
        return found

    async def clock_of(self, user_id: str) -> TestClock | None:
        query = select(TestClock).join(
            TestClockCustomer, TestClockCustomer.test_clock_id == TestClock.id
        )
        return await self.session.scalar(query.where(TestClockCustomer.user_id == user_id))

    async def has_subscribed(self, user_id: str) -> bool:
        query = text("SELECT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = :user)")
        return bool(await self.session.scalar(query, {"user": user_id}))

    async def attach(self, user_id: str, clock_id: uuid.UUID) -> None:
        self.session.add(TestClockCustomer(user_id=user_id, test_clock_id=clock_id))

    async def move(self, clock_id: uuid.UUID, now: datetime, advancing_to: datetime | None) -> None:
        status = "READY" if advancing_to is None else "ADVANCING"
        await self.session.execute(
            update(TestClock)
            .where(TestClock.id == clock_id)
            .values(now=now, status=status, advancing_to=advancing_to)
        )

    async def delete(self, clock_id: uuid.UUID, users: Sequence[str], now: datetime) -> None:
        """The clock and every row of its customers; their invoice and credit-note numbers
        go on record as retired."""
        reason = f"deleted with test clock {clock_id}"
        for table in ("invoices", "credit_notes"):
            await self.session.execute(
                text(
                    f"INSERT INTO retired_numbers (number, reason, retired_at)"
                    f" SELECT number, :reason, :now FROM {table}"
                    f" WHERE user_id = ANY(:users) AND number IS NOT NULL"
                ),
                {"reason": reason, "now": now, "users": list(users)},
            )
        await self.session.execute(
            text(
                "DELETE FROM invoice_lines WHERE invoice_id IN"
                " (SELECT id FROM invoices WHERE user_id = ANY(:users))"
            ),
            {"users": list(users)},
        )
        for table, column in _CUSTOMER_ROWS:
            await self.session.execute(
                text(f"DELETE FROM {table} WHERE {column} = ANY(:users)"), {"users": list(users)}
            )
        await self.session.execute(delete(TestClock).where(TestClock.id == clock_id))
