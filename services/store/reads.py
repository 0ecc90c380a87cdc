"""Hot reads in one statement, without the ORM's identity map: what `mySubscription` and
the entitlement lookups need on every page view. Rows come back shaped like the ORM
objects (attribute access, `.plan`, `.pending_plan`), so the views and the rules are the
same ones the writes use."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from models import Plan, Subscription
from services.store.plans import FREE_PLAN_CODE

_SUBSCRIPTIONS = cast(Table, Subscription.__table__)
_PLANS = cast(Table, Plan.__table__)
_plan = _PLANS.alias("plan")
_pending = _PLANS.alias("pending")
_free = _PLANS.alias("free")


def _labelled(table: Any, prefix: str) -> list[Any]:
    return [column.label(f"{prefix}{column.name}") for column in table.c]


# The free plan drives the join, so it comes back even for a user who never subscribed;
# the user's own subscriptions are a handful of rows on the (user_id, created_at) index.
_LATEST = (
    select(
        *_labelled(_SUBSCRIPTIONS, "s_"),
        *_labelled(_plan, "p_"),
        *_labelled(_pending, "q_"),
        *_labelled(_free, "f_"),
    )
    .select_from(
        _free.outerjoin(
            _SUBSCRIPTIONS.join(_plan, _plan.c.id == _SUBSCRIPTIONS.c.plan_id).outerjoin(
                _pending, _pending.c.id == _SUBSCRIPTIONS.c.pending_plan_id
            ),
            _SUBSCRIPTIONS.c.user_id == bindparam("user_id"),
        )
    )
    .where(_free.c.code == FREE_PLAN_CODE)
    .order_by(
        _SUBSCRIPTIONS.c.is_current.desc().nulls_last(),
        _SUBSCRIPTIONS.c.updated_at.desc(),
        _SUBSCRIPTIONS.c.created_at.desc(),
    )
    .limit(1)
)


def _part(row: RowMapping, prefix: str) -> SimpleNamespace | None:
    values = {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}
    return SimpleNamespace(**values) if values.get("id") is not None else None


async def latest_with_plans(
    connection: AsyncConnection, user_id: str
) -> tuple[Subscription | None, Plan]:
    """The user's current subscription (else the most recently changed one), with its
    plans, and the free plan: one round trip."""
    row = (await connection.execute(_LATEST, {"user_id": user_id})).mappings().first()
    if row is None:
        raise RuntimeError("the free plan is missing: run `python main.py migrate` to seed it")
    free = cast(Plan, _part(row, "f_"))
    subscription = _part(row, "s_")
    if subscription is None:
        return None, free
    subscription.plan = _part(row, "p_")
    subscription.pending_plan = _part(row, "q_")
    # Shaped like the ORM row for the views and rules; never added to a session.
    return cast(Subscription, subscription), free
