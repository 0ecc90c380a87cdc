"""Read-side use cases: what the API shows. Authorization by ownership happens here
for objects addressed by id (a user never sees another user's history)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from models import Plan, Subscription
from services.billing.rules import InvoiceStatus
from services.billing.views import InvoiceView, PaymentMethodView
from services.common.errors import DomainError, ErrorCode
from services.common.pagination import Page, check_first, decode_cursor, encode_cursor
from services.messaging.events import iso
from services.platform.auth import Principal, check_user_id
from services.platform.deps import Deps
from services.store.reads import all_invoice_page, invoice_page, latest_with_plans, usage_terms
from services.store.subscriptions import Cursor
from services.subscriptions.lifecycle import Status, SubscriptionState
from services.subscriptions.state import PlanFeatures, SubscriptionFilter, entitlements_for
from services.subscriptions.views import EntitlementsView, HistoryView, SubscriptionView


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"malformed id {raw!r}", field) from exc


async def subscription_of(deps: Deps, user_id: str) -> SubscriptionView | None:
    """The current subscription, or else the most recent ended one (None if never)."""
    async with deps.plain_connection() as connection:
        row, free_plan = await latest_with_plans(connection, user_id)
    return SubscriptionView.of(row, free_plan, deps.clock.now()) if row else None


@dataclass(frozen=True)
class StatusView:
    """The seed's "get subscription status" answer, for other services."""

    user_id: str
    status: Status | None  # of the latest subscription, current or ended
    is_current: bool
    plan_code: str
    tier: str
    features: tuple[str, ...]
    current_period_end: datetime | None


def _snapshot(row: Subscription | None, free_plan: Plan) -> dict[str, Any]:
    """What access is computed from, as plain JSON (the cached form)."""
    free = [free_plan.code, list(free_plan.entitlements)]
    if row is None:
        return {"free": free, "sub": None}
    return {
        "free": free,
        "sub": {
            "status": row.status.value,
            "plan": [row.plan.code, list(row.plan.entitlements), list(row.plan.grace_entitlements)],
            "periodStart": iso(row.current_period_start),
            "periodEnd": iso(row.current_period_end),
            "cancelledAt": iso(row.cancelled_at),
            "graceExpiresAt": iso(row.grace_expires_at),
            "statusUpdatedAt": iso(row.status_updated_at),
        },
    }


def instant(raw: str | None) -> datetime | None:
    """A moment of the cached snapshot (ISO text, or null)."""
    return datetime.fromisoformat(raw) if raw else None


def access_at(user_id: str, snapshot: dict[str, Any], now: datetime) -> StatusView:
    """Entitlements at `now` from a snapshot, by the same rules as everywhere else."""
    free_code, free_features = snapshot["free"]
    free = PlanFeatures(free_code, tuple(free_features), ())
    sub = snapshot["sub"]
    if sub is None:
        granted = entitlements_for(None, None, free, now)
        return StatusView(user_id, None, False, free_code, granted.tier, granted.features, None)
    code, features, grace = sub["plan"]
    state = SubscriptionState(
        status=Status(sub["status"]),
        plan_code=code,
        status_updated_at=instant(sub["statusUpdatedAt"]) or now,
        current_period_end=instant(sub["periodEnd"]),
        cancelled_at=instant(sub["cancelledAt"]),
        grace_expires_at=instant(sub["graceExpiresAt"]),
    )
    current = state.is_current
    granted = entitlements_for(
        state if current else None,
        PlanFeatures(code, tuple(features), tuple(grace)) if current else None,
        free,
        now,
    )
    return StatusView(
        user_id=user_id,
        status=state.status,
        is_current=current,
        plan_code=code if current else free_code,
        tier=granted.tier,
        features=granted.features,
        current_period_end=state.current_period_end,
    )


async def _load_snapshot(deps: Deps, user_id: str, *, usage: bool = True) -> dict[str, Any]:
    async with deps.plain_connection() as connection:
        row, free_plan = await latest_with_plans(connection, user_id)
        if usage:
            plan_ids = [free_plan.id] + ([row.plan_id] if row is not None else [])
            quotas, packs = await usage_terms(connection, plan_ids, user_id)
    snapshot = _snapshot(row, free_plan)
    if usage:  # the usage terms ride along: consumeQuota reads them on every call
        snapshot["quotas"] = {
            "free": quotas[free_plan.id],
            "sub": quotas[row.plan_id] if row is not None else {},
        }
        snapshot["packs"] = packs
    return snapshot


async def snapshot_of(deps: Deps, user_id: str) -> dict[str, Any]:
    """What a user may use, as cached: read through the access cache when there is one."""
    if deps.cache is None:
        return await _load_snapshot(deps, user_id)
    return await deps.cache.get(user_id, lambda: _load_snapshot(deps, user_id))


async def snapshots_of(deps: Deps, user_ids: list[str]) -> list[dict[str, Any]]:
    """`snapshot_of` for each user, in their order: cached ones in one cache read."""
    if deps.cache is None:
        return list(await asyncio.gather(*(_load_snapshot(deps, u) for u in user_ids)))
    return await deps.cache.get_many(user_ids, partial(_load_snapshot, deps))


async def status_of(deps: Deps, user_id: str) -> StatusView:
    check_user_id(user_id)
    if deps.cache is None:  # an uncached status read needs no usage terms: one statement
        snapshot = await _load_snapshot(deps, user_id, usage=False)
    else:
        snapshot = await snapshot_of(deps, user_id)
    return access_at(user_id, snapshot, deps.clock.now())


async def entitlements_of(deps: Deps, user_id: str) -> EntitlementsView:
    view = await status_of(deps, user_id)
    status = view.status if view.is_current else None
    return EntitlementsView(user_id, view.tier, view.features, status)


async def invoices_of(deps: Deps, user_id: str, first: int, after: str | None) -> Page[InvoiceView]:
    check_first(first)
    cursor = decode_cursor(after)
    async with deps.plain_connection() as connection:
        rows = await invoice_page(connection, user_id, first + 1, cursor)
    items = tuple(InvoiceView.of(r) for r in rows[:first])
    end = encode_cursor(items[-1].created_at, items[-1].id) if items else None
    return Page(items, len(rows) > first, end)


async def all_invoices(
    deps: Deps, status: InvoiceStatus | None, first: int, after: str | None
) -> Page[InvoiceView]:
    """Every customer's invoices, newest first (the console's money list)."""
    check_first(first)
    cursor = decode_cursor(after)
    async with deps.plain_connection() as connection:
        rows = await all_invoice_page(
            connection, None if status is None else status.value, first + 1, cursor
        )
    items = tuple(InvoiceView.of(r) for r in rows[:first])
    end = encode_cursor(items[-1].created_at, items[-1].id) if items else None
    return Page(items, len(rows) > first, end)


async def payment_methods_of(deps: Deps, user_id: str) -> list[PaymentMethodView]:
    async with deps.uow() as uow:
        return [PaymentMethodView.of(m) for m in await uow.billing.payment_methods(user_id)]


async def history_of(deps: Deps, viewer: Principal, subscription_id: str) -> list[HistoryView]:
    wanted = parse_uuid(subscription_id, "subscriptionId")
    async with deps.uow() as uow:
        row = await uow.subscriptions.by_id(wanted)
        # Someone else's subscription looks exactly like a missing one.
        if row is None or (row.user_id != viewer.user_id and not viewer.is_admin):
            raise DomainError(ErrorCode.NOT_FOUND, "no such subscription", "subscriptionId")
        return [HistoryView.of(h) for h in await uow.subscriptions.history(row.id)]


async def admin_subscriptions(
    deps: Deps, filters: SubscriptionFilter, first: int, after: str | None
) -> Page[SubscriptionView]:
    check_first(first)
    if filters.user_id is not None:
        check_user_id(filters.user_id)
    decoded = decode_cursor(after)
    cursor = Cursor(*decoded) if decoded else None
    now = deps.clock.now()
    async with deps.uow() as uow:
        rows = await uow.subscriptions.page(filters, first, cursor)
        free_plan = await uow.plans.free_plan()
        items = tuple(SubscriptionView.of(r, free_plan, now) for r in rows[:first])
    end = encode_cursor(items[-1].created_at, items[-1].id) if items else None
    return Page(items, len(rows) > first, end)
