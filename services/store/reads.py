"""Hot reads straight on asyncpg: what `mySubscription`, the entitlement lookups and the
invoice list need on every page view. The SQL is generated from the table metadata, and
rows come back shaped like the ORM objects (attribute access, `.plan`, `.pending_plan`,
`.lines`), so the views and the rules are the same ones the writes use."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import Enum as SAEnum
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from models import Invoice, InvoiceLine, Plan, Subscription
from services.store.plans import FREE_PLAN_CODE

_SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_PLANS = cast(Table, Plan.__table__)
_PARTS = (("s", _SUBSCRIPTIONS), ("p", _PLANS), ("q", _PLANS), ("f", _PLANS))


def _select_list() -> str:
    return ", ".join(
        f"{alias}.{column.name} AS {alias}_{column.name}"
        for alias, table in _PARTS
        for column in table.c
    )


# The free plan drives the join, so it comes back even for a user who never subscribed;
# the user's own subscriptions are a handful of rows on the (user_id, created_at) index.
LATEST_SQL = f"""
SELECT {_select_list()}, o.price_cents AS o_price_cents, o.until AS o_until
FROM plans f
LEFT JOIN (subscriptions s
           JOIN plans p ON p.id = s.plan_id
           LEFT JOIN plans q ON q.id = s.pending_plan_id
           LEFT JOIN customer_prices o ON o.user_id = s.user_id AND o.plan_id = s.plan_id)
       ON s.user_id = $1
WHERE f.code = '{FREE_PLAN_CODE}'
ORDER BY s.is_current DESC NULLS LAST, s.updated_at DESC, s.created_at DESC
LIMIT 1
"""


def _decoders(table: Table) -> dict[str, Any]:
    """Turn asyncpg's raw values into what the ORM would give: enums and JSON."""
    found: dict[str, Any] = {}
    for column in table.c:
        if isinstance(column.type, SAEnum) and column.type.enum_class is not None:
            enum_class: type[Enum] = column.type.enum_class
            found[column.name] = enum_class
        elif isinstance(column.type, JSONB):
            found[column.name] = orjson.loads
    return found


_PLAN_DECODE = _decoders(_PLANS)
_DECODE = {"s": _decoders(_SUBSCRIPTIONS), "p": _PLAN_DECODE, "q": _PLAN_DECODE, "f": _PLAN_DECODE}


def _shaped(values: dict[str, Any], decoders: dict[str, Any]) -> SimpleNamespace:
    """A row's values as an ORM-like object, enums and JSON decoded."""
    for name, decode in decoders.items():
        if values[name] is not None:
            values[name] = decode(values[name])
    return SimpleNamespace(**values)


# Each alias's (column position, attribute name) in LATEST_SQL's select list, so a row is
# split by position instead of by scanning every key's prefix.
def _positions() -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {alias: [] for alias, _ in _PARTS}
    columns = ((alias, column.name) for alias, table in _PARTS for column in table.c)
    for index, (alias, name) in enumerate(columns):
        found[alias].append((index, name))
    return found


_POSITIONS = _positions()


def _part(row: asyncpg.Record, alias: str) -> SimpleNamespace | None:
    values = {name: row[index] for index, name in _POSITIONS[alias]}
    return None if values["id"] is None else _shaped(values, _DECODE[alias])


async def latest_with_plans(
    connection: asyncpg.Connection, user_id: str
) -> tuple[Subscription | None, Plan]:
    """The user's current subscription (else the most recently changed one), with its
    plans, and the free plan: one round trip."""
    row = await connection.fetchrow(LATEST_SQL, user_id)
    if row is None:
        raise RuntimeError("the free plan is missing: run `python main.py migrate` to seed it")
    free = cast(Plan, _part(row, "f"))
    subscription = _part(row, "s")
    if subscription is None:
        return None, free
    subscription.plan = _part(row, "p")
    subscription.pending_plan = _part(row, "q")
    price, until = row["o_price_cents"], row["o_until"]
    subscription.price_override = (
        None if price is None else SimpleNamespace(price_cents=price, until=until)
    )
    # Shaped like the ORM row for the views and rules; never added to a session.
    return cast(Subscription, subscription), free


_INVOICES = cast(Table, Invoice.__table__)
_LINES = cast(Table, InvoiceLine.__table__)
_INVOICE_COLUMNS = ", ".join(column.name for column in _INVOICES.c)
# Newest first on the (user_id, created_at, id) index; the cursor is the last row seen.
FIRST_INVOICES_SQL = f"""
SELECT {_INVOICE_COLUMNS} FROM invoices WHERE user_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2
"""
NEXT_INVOICES_SQL = f"""
SELECT {_INVOICE_COLUMNS} FROM invoices WHERE user_id = $1 AND (created_at, id) < ($2, $3)
ORDER BY created_at DESC, id DESC LIMIT $4
"""
# Everyone's (the console), optionally of one status, on the (created_at, id) index.
ALL_INVOICES_SQL = f"""
SELECT {_INVOICE_COLUMNS} FROM invoices
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC LIMIT $4
"""
LINES_SQL = f"""
SELECT {", ".join(column.name for column in _LINES.c)} FROM invoice_lines
WHERE invoice_id = ANY($1::uuid[]) ORDER BY invoice_id, position
"""
_INVOICE_DECODE = _decoders(_INVOICES)
_LINE_DECODE = _decoders(_LINES)


async def invoice_page(
    connection: asyncpg.Connection,
    user_id: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Invoice]:
    """Up to `limit` of the user's invoices after the cursor, newest first, with their
    lines in order: two statements."""
    if after is None:
        rows = await connection.fetch(FIRST_INVOICES_SQL, user_id, limit)
    else:
        rows = await connection.fetch(NEXT_INVOICES_SQL, user_id, after[0], after[1], limit)
    return await _with_lines(connection, rows)


async def all_invoice_page(
    connection: asyncpg.Connection,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Invoice]:
    """Up to `limit` of everyone's invoices (of `status`, if given) after the cursor."""
    moment, row_id = after if after is not None else (None, None)
    rows = await connection.fetch(ALL_INVOICES_SQL, status, moment, row_id, limit)
    return await _with_lines(connection, rows)


async def _with_lines(connection: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Invoice]:
    invoices = [_shaped(dict(row.items()), _INVOICE_DECODE) for row in rows]
    lines: dict[uuid.UUID, list[SimpleNamespace]] = {invoice.id: [] for invoice in invoices}
    if invoices:
        for row in await connection.fetch(LINES_SQL, list(lines)):
            lines[row["invoice_id"]].append(_shaped(dict(row.items()), _LINE_DECODE))
    for invoice in invoices:
        invoice.lines = lines[invoice.id]
    # Shaped like ORM rows for the views; never added to a session.
    return cast(list[Invoice], invoices)


# The plans' quotas and the user's pack meters, in one round trip.
USAGE_TERMS_SQL = """
SELECT false AS is_pack, pq.plan_id, m.key, m.id, m.aggregation, m.feature,
       pq.included_units, pq.overage_unit_price_cents, pq.hard_limit,
       NULL::boolean AS forever, NULL::timestamptz AS last
FROM plan_quotas pq JOIN meters m ON m.id = pq.meter_id
WHERE pq.plan_id = ANY($1::uuid[]) AND NOT m.archived
UNION ALL
SELECT true, NULL, m.key, NULL, NULL, NULL, NULL, NULL, NULL,
       bool_or(u.expires_at IS NULL), max(u.expires_at)
FROM quota_pack_units u JOIN meters m ON m.id = u.meter_id
WHERE u.user_id = $2 AND u.active AND u.used_units < u.units
GROUP BY m.key
"""


async def usage_terms(
    connection: asyncpg.Connection, plan_ids: list[uuid.UUID], user_id: str
) -> tuple[dict[uuid.UUID, dict[str, list[Any]]], dict[str, str | None]]:
    """What the plans include of each meter ({plan id: {meter key: [meter id,
    aggregation, feature, included, overage price, hard limit]}}), and the meters the user
    holds pack units for, each with when its last pack expires (None: never)."""
    quotas: dict[uuid.UUID, dict[str, list[Any]]] = {plan_id: {} for plan_id in plan_ids}
    packs: dict[str, str | None] = {}
    for row in await connection.fetch(USAGE_TERMS_SQL, plan_ids, user_id):
        if row["is_pack"]:
            packs[row["key"]] = None if row["forever"] else row["last"].isoformat()
            continue
        quotas[row["plan_id"]][row["key"]] = [
            str(row["id"]),
            row["aggregation"],
            row["feature"],
            row["included_units"],
            row["overage_unit_price_cents"],
            row["hard_limit"],
        ]
    return quotas, packs
