"""Loading the subscription a command acts on, with the user's lock held."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from models import Plan, Subscription
from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.catalog import require_plan
from services.pricing.rules import PlanKind
from services.subscriptions.lifecycle import Transition
from services.subscriptions.transitions import apply_transition
from services.subscriptions.views import (
    ChargeOutcomeResult,
    SubscriptionView,
    stored_errors,
    stored_payment,
    stored_subscription_id,
)


async def locked_current(uow: UnitOfWork, user_id: str) -> Subscription:
    """Take the user's lock, then their current subscription row (locked too)."""
    await uow.subscriptions.lock_user(user_id)
    row = await uow.subscriptions.current(user_id, for_update=True)
    if row is None:
        raise DomainError(ErrorCode.NO_SUBSCRIPTION, "you have no current subscription")
    return row


async def replayed(uow: UnitOfWork, data: dict[str, Any], now: datetime) -> ChargeOutcomeResult:
    """The first result of an idempotent call, with the subscription as it is now."""
    subscription_id = stored_subscription_id(data)
    row = await uow.subscriptions.by_id(subscription_id) if subscription_id else None
    view = SubscriptionView.of(row, await uow.plans.free_plan(), now) if row else None
    return ChargeOutcomeResult(view, stored_payment(data), stored_errors(data))


Rule = Callable[[Subscription, Plan | None, datetime], Transition]
# Writes that go with a transition, made with the row still as it was before it.
Effect = Callable[[UnitOfWork, Subscription, Transition, datetime], Awaitable[None]]


async def change_subscription(
    deps: Deps,
    user_id: str,
    rule: Rule,
    *,
    actor: str,
    note: str | None = None,
    target_plan_code: str | None = None,
    effect: Effect | None = None,
) -> SubscriptionView:
    """The common shape of a state change with no payment: lock, decide, persist.

    `rule` sees the locked row, the target plan (when `target_plan_code` is given) and
    the time, and returns the transition; the row's own columns may be adjusted there.
    """
    now = deps.clock.now()
    async with deps.uow() as uow:
        row = await locked_current(uow, user_id)
        target = None
        if target_plan_code is not None:
            target = await require_plan(
                uow, target_plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION
            )
        transition = rule(row, target, now)
        if effect is not None:
            await effect(uow, row, transition, now)
        plans = {p.code: p for p in (row.plan, row.pending_plan, target) if p is not None}
        free_plan = await uow.plans.free_plan()
        apply_transition(
            uow, row, transition, plans, free_plan=free_plan, actor=actor, now=now, note=note
        )
        await uow.commit()
        return SubscriptionView.of(row, free_plan, now)
