"""SQL for bulk renewals and payment results: one claim, then one statement per table
for the whole batch on the session's own asyncpg connection, in its transaction (new
rows by binary COPY, updates from `unnest` of arrays), so the cost per renewal is a few
values instead of an ORM object and a flush."""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.store.db import session_driver
from services.store.operations import EVERYONE, DueScope
from services.store.subscriptions import STATE_FIELDS
from services.subscriptions.lifecycle import SubscriptionState, Transition
from services.subscriptions.state import PaymentConfirmation, Status

# A plain renewal: ACTIVE, due at $1, nothing that changes its invoice (no scheduled
# plan change, live discount, credit balance, customer price or usage in the period) and
# no charge waiting out a gateway backoff. Anything else takes the scheduler's general
# path.
_PLAIN = """
    s.is_current AND s.status = 'ACTIVE' AND s.current_period_end <= $1
    AND NOT s.cancel_at_period_end AND s.pending_plan_id IS NULL
    AND NOT EXISTS (SELECT 1 FROM charge_deferrals d WHERE d.subscription_id = s.id)
    AND NOT EXISTS (SELECT 1 FROM customer_prices o
        WHERE o.user_id = s.user_id AND o.plan_id = s.plan_id)
    AND NOT EXISTS (SELECT 1 FROM subscription_discounts d
        WHERE d.subscription_id = s.id AND d.cycles_left IS DISTINCT FROM 0)
    AND NOT EXISTS (SELECT 1 FROM credit_balances b
        WHERE b.user_id = s.user_id AND b.balance_cents <> 0)
    AND NOT EXISTS (SELECT 1 FROM usage_counters c
        WHERE c.user_id = s.user_id AND c.period_start = s.current_period_start)
    {clock_scope}"""
_WITH_CARD = (
    "subscriptions s JOIN payment_methods m"
    " ON m.user_id = s.user_id AND m.is_default AND m.is_active"
)
CLAIM_SQL = f"""
SELECT s.id, s.user_id, s.plan_id, s.currency, s.fulfillment::text AS fulfillment,
    s.price_cents, s.scheduled_price_cents, s.scheduled_price_at,
    {", ".join(f"s.{name}" for name in STATE_FIELDS)},
    m.payment_method_id, m.customer_id
FROM {_WITH_CARD}
WHERE {_PLAIN} AND s.id <> ALL($3::uuid[])
ORDER BY s.current_period_end  -- on ix_subscriptions_due_period: renewed rows leave it
LIMIT $2
FOR UPDATE OF s SKIP LOCKED
"""

# The claim's snapshot is taken before it locks: a worker that acted on a row and
# committed in between (queued it behind a gateway backoff, or charged it and left it
# PROCESSING, neither of which changes the row, so the lock is granted) would be
# invisible to it, and the charge sent again. So the claimed rows are asked again, in a
# statement of their own under the locks: which are still plain renewals, and which have
# this period's charge on record already (`charged`: still processing, its result
# settles it; the general path's `attempts_made` test). The LATERAL probe with LIMIT 1
# keeps that one index lookup per claimed row: asked of every due row, or as a
# semi-join with stale statistics during a big run, the planner hashed all of payments'
# attempt index per batch instead.
RECHECK_SQL = f"""
SELECT s.id, c.charged IS NOT NULL AS charged
FROM {_WITH_CARD}
LEFT JOIN LATERAL (SELECT true AS charged FROM payments p WHERE p.order_id = s.id
    AND p.period_start = s.current_period_end AND p.attempt = 0
    AND p.purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY') LIMIT 1) c ON true
WHERE s.id = ANY($2::uuid[]) AND {_PLAIN}
"""

UPDATE_PAYMENTS_SQL = """
UPDATE payments p SET status_literal = t.status_literal, failure_message = t.failure_message,
    processor_event_at = t.processor_event_at, updated_at = $5
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
    AS t(id, status_literal, failure_message, processor_event_at)
WHERE p.id = t.id
"""

UPDATE_INVOICES_SQL = """
UPDATE invoices i SET status = t.status,
    amount_paid_cents = CASE WHEN t.status = 'PAID' THEN i.total_cents
        ELSE i.amount_paid_cents END,
    paid_at = CASE WHEN t.status = 'PAID' THEN $3 ELSE i.paid_at END
FROM unnest($1::uuid[], $2::text[]) AS t(id, status)
WHERE i.id = t.id
"""

# Stored values to members by dict (an Enum call costs several times a lookup).
_ENUMS: dict[str, dict[str, Any]] = {
    "status": {member.value: member for member in Status},
    "payment_confirmation": {member.value: member for member in PaymentConfirmation},
    "status_before_suspension": {member.value: member for member in Status},
}
_STATE_COLUMNS = itemgetter(*STATE_FIELDS)
_STATE_OF = attrgetter(*STATE_FIELDS)
_TYPES = {
    "status": "text",
    "status_before_suspension": "text",
    "payment_confirmation": "text",
    "cancel_at_period_end": "boolean",
    "retry_count": "integer",
    "price_paid_cents": "bigint",
}
UPDATE_SUBSCRIPTIONS_SQL = f"""
UPDATE subscriptions s SET {", ".join(f"{name} = t.{name}" for name in STATE_FIELDS)},
    is_current = t.is_current, plan_id = t.plan_id, pending_plan_id = t.pending_plan_id,
    updated_at = $1
FROM unnest($2::uuid[], $3::boolean[], $4::uuid[], $5::uuid[],
    {", ".join(f"${n}::{_TYPES.get(name, 'timestamptz')}[]" for n, name in enumerate(STATE_FIELDS, 6))})
    AS t(id, is_current, plan_id, pending_plan_id, {", ".join(STATE_FIELDS)})
WHERE s.id = t.id
"""
SUBSCRIPTIONS_FOR_UPDATE_SQL = f"""
SELECT id, user_id, plan_id, pending_plan_id, fulfillment::text AS fulfillment,
    {", ".join(STATE_FIELDS)}
FROM subscriptions WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""
PAYMENT_ROUTES_SQL = """
SELECT id, payment_id, owner_id, order_id, quota_pack_id, purpose
FROM payments WHERE id = ANY($1::uuid[]) OR payment_id = ANY($2::text[])
"""
PAYMENTS_FOR_UPDATE_SQL = """
SELECT id, payment_id, owner_id, order_id, invoice_id, purpose, amount_cents, status_literal,
    processor_event_at, failure_message
FROM payments WHERE id = ANY($1::uuid[]) OR payment_id = ANY($2::text[]) ORDER BY id FOR UPDATE
"""


async def claim(
    session: AsyncSession,
    now: datetime,
    limit: int,
    skip: Collection[uuid.UUID],
    scope: DueScope = EVERYONE,
) -> list[asyncpg.Record]:
    """In the session's transaction (`session_driver` opens it first): the row locks
    last until it commits."""
    sql = CLAIM_SQL.format(clock_scope=scope.sql("s.user_id"))
    return await _fetch(session, sql, now, limit, list(skip))


async def recheck(
    session: AsyncSession, records: Sequence[asyncpg.Record], now: datetime, scope: DueScope
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Of the claimed rows (locked): which are still plain renewals due at `now`, and
    which of those have their period's charge on record (RECHECK_SQL)."""
    sql = RECHECK_SQL.format(clock_scope=scope.sql("s.user_id"))
    rows = await _fetch(session, sql, now, [record["id"] for record in records])
    return {row["id"] for row in rows}, {row["id"] for row in rows if row["charged"]}


async def defer_invoice_references(driver: asyncpg.Connection) -> None:
    """Payments' and lines' invoice foreign keys checked at commit in this transaction
    (they are written before their invoices, which wait for their numbers)."""
    await driver.execute(
        "SET CONSTRAINTS fk_payments_invoice_id_invoices, fk_invoice_lines_invoice_id_invoices"
        " DEFERRED"
    )


async def write_payments_and_lines(
    driver: asyncpg.Connection,
    payments: Sequence[Sequence[Any]],
    lines: Sequence[Sequence[Any]],
    *,
    platform: str,
    now: datetime,
) -> None:
    """The renewals' payments and invoice lines, by binary COPY (no statement to plan,
    no arrays to unnest); each argument holds one tuple per row in the order of the
    columns below."""
    if lines:
        await driver.copy_records_to_table(
            "invoice_lines",
            columns=_LINE_COLUMNS,
            records=[
                (line_id, 0, "SUBSCRIPTION", *line)
                for line_id, line in zip(new_ids(len(lines)), lines, strict=True)
            ],
        )
    if payments:
        constant = ("RENEWAL", 0, platform, True, now, now)
        await driver.copy_records_to_table(
            "payments",
            columns=_PAYMENT_COLUMNS,
            records=[(*payment, *constant) for payment in payments],
        )


async def write_invoices(
    driver: asyncpg.Connection,
    invoices: Sequence[Sequence[Any]],
    numbers: Sequence[str],
    now: datetime,
) -> None:
    """The renewals' invoices (all but their numbers, given apart: drawn last)."""
    if invoices:
        await driver.copy_records_to_table(
            "invoices",
            columns=_INVOICE_COLUMNS,
            records=[
                (*invoice, number, now) for invoice, number in zip(invoices, numbers, strict=True)
            ],
        )


_LINE_COLUMNS = [
    "id",
    "position",
    "kind",
    "invoice_id",
    "description",
    "amount_cents",
    "plan_code",
    "period_start",
    "period_end",
]
_PAYMENT_COLUMNS = [
    "id",
    "owner_id",
    "order_id",
    "invoice_id",
    "amount_cents",
    "currency",
    "payment_id",
    "payment_status",
    "status_literal",
    "payment_method_id",
    "idempotency_key",
    "period_start",
    "redirect_url",
    "client_secret",
    "failure_message",
    "purpose",
    "attempt",
    "platform",
    "is_active",
    "created_at",
    "updated_at",
]
_HISTORY_COLUMNS = [
    "subscription_id",
    "user_id",
    "from_status",
    "to_status",
    "reason",
    "actor",
    "details",
    "occurred_at",
]
_INVOICE_COLUMNS = [
    "id",
    "user_id",
    "subscription_id",
    "status",
    "currency",
    "total_cents",
    "amount_paid_cents",
    "period_start",
    "period_end",
    "paid_at",
    "number",
    "created_at",
]


async def write_history(
    driver: asyncpg.Connection, history: Sequence[Sequence[Any]], now: datetime
) -> None:
    """History rows (subscription, user, from, to, reason, actor, details JSON), by COPY:
    it keeps the rows' order, so one subscription's transitions keep theirs."""
    if history:
        await driver.copy_records_to_table(
            "subscription_history",
            columns=_HISTORY_COLUMNS,
            records=[(*row, now) for row in history],
        )


async def write_states(
    driver: asyncpg.Connection, states: Sequence[Sequence[Any]], now: datetime
) -> None:
    """New states (id, is_current, plan id, pending plan id, *updated_columns)."""
    if states:
        await driver.execute(
            UPDATE_SUBSCRIPTIONS_SQL, now, *_columns(states, 4 + len(STATE_FIELDS))
        )


async def write_payment_results(
    driver: asyncpg.Connection,
    payments: Sequence[Sequence[Any]],
    invoices: Sequence[Sequence[Any]],
    now: datetime,
) -> None:
    """Payments (id, status, failure message, processor event time) and invoices (id,
    status) as their results left them."""
    if payments:
        await driver.execute(UPDATE_PAYMENTS_SQL, *_columns(payments, 4), now)
    if invoices:
        await driver.execute(UPDATE_INVOICES_SQL, *_columns(invoices, 2), now)


async def payment_routes(
    session: AsyncSession, ids: Collection[uuid.UUID], processor_ids: Collection[str]
) -> list[asyncpg.Record]:
    """What decides which path a payment's results take (read without locks: none of
    it changes after the payment is made), and whose it is, to lock the users first."""
    return await _fetch(session, PAYMENT_ROUTES_SQL, list(ids), list(processor_ids))


async def payments_for_update(
    session: AsyncSession, ids: Collection[uuid.UUID], processor_ids: Collection[str]
) -> list[asyncpg.Record]:
    return await _fetch(session, PAYMENTS_FOR_UPDATE_SQL, list(ids), list(processor_ids))


async def subscriptions_for_update(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> list[asyncpg.Record]:
    return await _fetch(session, SUBSCRIPTIONS_FOR_UPDATE_SQL, list(ids))


async def _fetch(session: AsyncSession, sql: str, *args: Any) -> list[asyncpg.Record]:
    found: list[asyncpg.Record] = await (await session_driver(session)).fetch(sql, *args)
    return found


def state_of_row(
    row: asyncpg.Record, plan_code: str, pending_code: str | None
) -> SubscriptionState:
    """The rules' view of a subscription row read by these statements."""
    fields: dict[str, Any] = dict(zip(STATE_FIELDS, _STATE_COLUMNS(row), strict=True))
    for name, members in _ENUMS.items():
        if fields[name] is not None:
            fields[name] = members[fields[name]]
    return SubscriptionState(plan_code=plan_code, pending_plan_code=pending_code, **fields)


def history_row(
    subscription_id: uuid.UUID,
    user_id: str,
    transition: Transition,
    actor: str,
    details: dict[str, Any],
) -> tuple[Any, ...]:
    """A transition's history row in `write_history`'s column order."""
    before, after = transition.before, transition.after
    return (
        subscription_id,
        user_id,
        before.status if before else None,  # StrEnums: sent as their values
        after.status,
        transition.reason,
        actor,
        orjson.dumps(details).decode(),
    )


def updated_columns(state: Any) -> tuple[Any, ...]:
    """A state's columns in the update's order. Its enums are StrEnums: each member is
    the str of its stored value, and asyncpg sends it as that text."""
    values: tuple[Any, ...] = _STATE_OF(state)
    return values


# uuid.UUID(int=..., version=4) sets these bits; done here once per id, not per call.
_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_V4_SET = (0x8000 << 48) | (4 << 76)


def new_ids(count: int) -> list[uuid.UUID]:
    """`count` random (version 4) UUIDs from one read of the OS's randomness: about
    half the cost of as many `uuid.uuid4()` calls (a renewal needs three)."""
    raw = os.urandom(16 * count)
    return [
        uuid.UUID(int=(int.from_bytes(raw[n : n + 16]) & _V4_CLEAR) | _V4_SET)
        for n in range(0, 16 * count, 16)
    ]


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert len(columns) == width, (len(columns), width)
    return columns
