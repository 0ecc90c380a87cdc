"""Read-side use cases: what the API shows. Authorization by ownership happens here
for objects addressed by id (a user never sees another user's history)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.auth import Principal, is_valid_user_id
from services.deps import Deps
from services.entitlements import entitlements_for
from services.errors import DomainError, ErrorCode
from services.lifecycle import Status
from services.pagination import Page, check_first, decode_cursor, encode_cursor
from services.store.plans import features_of
from services.store.subscriptions import Cursor, SubscriptionFilter, state_of
from services.views import (
    EntitlementsView,
    HistoryView,
    InvoiceView,
    PaymentMethodView,
    SubscriptionView,
)


def check_user_id(user_id: str) -> str:
    if not is_valid_user_id(user_id):
        raise DomainError(ErrorCode.INVALID_INPUT, "malformed user id", "userId")
    return user_id


def parse_uuid(raw: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"malformed id {raw!r}", field) from exc


async def subscription_of(deps: Deps, user_id: str) -> SubscriptionView | None:
    """The current subscription, or else the most recent ended one (None if never)."""
    async with deps.uow() as uow:
        row = await uow.subscriptions.latest(user_id)
        if row is None:
            return None
        return SubscriptionView.of(row, await uow.plans.free_plan(), deps.clock.now())


async def entitlements_of(deps: Deps, user_id: str) -> EntitlementsView:
    async with deps.uow() as uow:
        row = await uow.subscriptions.current(user_id)
        free_plan = await uow.plans.free_plan()
        granted = entitlements_for(
            state_of(row) if row else None,
            features_of(row.plan) if row else None,
            features_of(free_plan),
            deps.clock.now(),
        )
        return EntitlementsView(user_id, granted.tier, granted.features, granted.status)


@dataclass(frozen=True)
class StatusView:
    """The seed's "get subscription status" answer, for other services."""

    user_id: str
    status: Status | None
    plan_code: str
    tier: str
    features: tuple[str, ...]
    current_period_end: datetime | None


async def status_of(deps: Deps, user_id: str) -> StatusView:
    check_user_id(user_id)
    async with deps.uow() as uow:
        row = await uow.subscriptions.latest(user_id)
        free_plan = await uow.plans.free_plan()
        current = row if row is not None and row.is_current else None
        granted = entitlements_for(
            state_of(current) if current else None,
            features_of(current.plan) if current else None,
            features_of(free_plan),
            deps.clock.now(),
        )
        return StatusView(
            user_id=user_id,
            status=row.status if row else None,
            plan_code=current.plan.code if current else free_plan.code,
            tier=granted.tier,
            features=granted.features,
            current_period_end=row.current_period_end if row else None,
        )


async def invoices_of(deps: Deps, user_id: str, first: int, after: str | None) -> Page[InvoiceView]:
    check_first(first)
    cursor = decode_cursor(after)
    async with deps.uow() as uow:
        rows = await uow.billing.invoice_page(user_id, first, cursor)
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
