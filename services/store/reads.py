"""Hot reads in one statement, straight on asyncpg: what `mySubscription` and the
entitlement lookups need on every page view. The SQL is generated from the table
metadata, and rows come back shaped like the ORM objects (attribute access, `.plan`,
`.pending_plan`), so the views and the rules are the same ones the writes use."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import orjson
from sqlalchemy import Enum as SAEnum
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import JSONB

from models import Plan, Subscription
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
SELECT {_select_list()}
FROM plans f
LEFT JOIN (subscriptions s
           JOIN plans p ON p.id = s.plan_id
           LEFT JOIN plans q ON q.id = s.pending_plan_id)
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


_DECODE = {
    "s": _decoders(_SUBSCRIPTIONS),
    "p": _decoders(_PLANS),
    "q": _decoders(_PLANS),
    "f": _decoders(_PLANS),
}


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
    if values["id"] is None:
        return None
    for name, decode in _DECODE[alias].items():
        if values[name] is not None:
            values[name] = decode(values[name])
    return SimpleNamespace(**values)


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
    # Shaped like the ORM row for the views and rules; never added to a session.
    return cast(Subscription, subscription), free
