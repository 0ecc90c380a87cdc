"""Entitlements as a function of (subscription, plan, now): who may use what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.subscriptions.lifecycle import Status, SubscriptionState

SUSPENDED_TIER = "suspended"


@dataclass(frozen=True)
class PlanFeatures:
    code: str
    entitlements: tuple[str, ...]
    grace_entitlements: tuple[str, ...]


@dataclass(frozen=True)
class Entitlements:
    tier: str
    features: tuple[str, ...]
    status: Status | None


def entitlements_for(
    state: SubscriptionState | None,
    plan: PlanFeatures | None,
    free_plan: PlanFeatures,
    now: datetime,
) -> Entitlements:
    """Free plan for no / PENDING / EXPIRED / FAILED subscriptions, the plan's own while
    TRIALING / ACTIVE / CANCELED-before-period-end, the grace subset while PAST_DUE
    (until grace runs out), nothing while SUSPENDED."""
    free = Entitlements(free_plan.code, free_plan.entitlements, state.status if state else None)
    if state is None or plan is None:
        return free
    status = state.status
    if status is Status.SUSPENDED:
        return Entitlements(SUSPENDED_TIER, (), status)
    if status in (Status.TRIALING, Status.ACTIVE):
        return Entitlements(plan.code, plan.entitlements, status)
    if status is Status.CANCELED:
        end = state.current_period_end
        if state.is_current and end is not None and now < end:
            return Entitlements(plan.code, plan.entitlements, status)
        return free
    if status is Status.PAST_DUE:
        grace = state.grace_expires_at
        if grace is not None and now < grace:
            # Never less than a free user gets.
            kept = tuple(dict.fromkeys(plan.grace_entitlements + free_plan.entitlements))
            return Entitlements(plan.code, kept, status)
        return free
    return free
