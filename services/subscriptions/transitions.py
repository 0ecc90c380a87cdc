"""Persisting a transition: the row, its history entry and its events, together.

Every use case that changes a subscription ends here, so no change can skip its
history row or its outbox events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Plan, Subscription, SubscriptionHistory
from services.messaging import events
from services.messaging.events import DomainEvent, iso
from services.platform.uow import UnitOfWork
from services.store.plans import features_of
from services.store.subscriptions import write_state
from services.subscriptions.lifecycle import Status, SubscriptionState, Transition
from services.subscriptions.state import entitlements_for

# Which notification the user gets for each kind of transition.
NOTIFICATIONS: dict[str, tuple[str, ...]] = {
    "trial_started": ("subscription_started",),
    "payment_succeeded": ("subscription_started",),
    "payment_failed": ("payment_failed",),
    "payment_retry_failed": ("payment_failed",),
    "cancelled_at_period_end": ("subscription_cancelled",),
    "cancelled_immediately": ("subscription_cancelled",),
    "period_ended": ("subscription_expired",),
    "grace_period_ended": ("subscription_expired",),
    "grace_cancelled": ("subscription_cancelled",),
    "grace_paused": ("subscription_paused",),
    "upgraded": ("plan_changed",),
    "downgraded": ("plan_changed",),
    "upgrade_scheduled": ("plan_change_scheduled",),
    "downgrade_scheduled": ("plan_change_scheduled",),
    "suspended": ("subscription_suspended",),
    "reinstated": ("subscription_reinstated",),
    "paused": ("subscription_paused",),
    "unpaused": ("subscription_resumed",),
}
STARTED_REASONS = frozenset({"trial_started", "payment_succeeded"})
CANCELLED_REASONS = frozenset(
    {"cancelled_at_period_end", "cancelled_immediately", "grace_cancelled"}
)
PAUSED_REASONS = frozenset({"paused", "grace_paused"})
PAID_PERIOD_REASONS = frozenset(
    {"payment_succeeded", "trial_converted", "renewed", "payment_recovered"}
)


def subscription_data(row: Subscription) -> dict[str, Any]:
    return state_data(row.id, row.user_id, row.plan.code, row)


def state_data(
    subscription_id: uuid.UUID,
    user_id: str,
    plan_code: str,
    state: Subscription | SubscriptionState,
) -> dict[str, Any]:
    """The subscription fields every subscription event carries."""
    return {
        "subscriptionId": str(subscription_id),
        "userId": user_id,
        "planCode": plan_code,
        "status": state.status.value,
        "currentPeriodStart": iso(state.current_period_start),
        "currentPeriodEnd": iso(state.current_period_end),
        "cancelAtPeriodEnd": state.cancel_at_period_end,
    }


def apply_transition(
    uow: UnitOfWork,
    row: Subscription,
    transition: Transition,
    plans: dict[str, Plan],
    *,
    free_plan: Plan,
    actor: str,
    now: datetime,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    before = transition.before
    after = transition.after
    if before is not None and before.plan_code != after.plan_code:
        # The timeline names the plans of a change (the row keeps only the new one).
        details = {**(details or {}), "fromPlanCode": before.plan_code, "planCode": after.plan_code}
    write_state(row, after, plans)
    if before is None or before.plan_code != after.plan_code:
        # A new plan (a start, an upgrade, a downgrade taking effect): its price now.
        row.price_cents = row.plan.price_cents
        row.scheduled_price_cents = row.scheduled_price_at = None
    row.updated_at = now
    uow.subscriptions.add_history(
        SubscriptionHistory(
            subscription_id=row.id,
            user_id=row.user_id,
            from_status=before.status if before else None,
            to_status=after.status,
            reason=transition.reason,
            note=note,
            actor=actor,
            occurred_at=now,
            details=details or {},
        )
    )
    changed = Changed(row.id, row.user_id, row.plan, row.fulfillment, transition)
    for event in events_for(changed, free_plan, actor, now, note):
        uow.record(event)


@dataclass(frozen=True)
class Changed:
    """A subscription after a transition: what its events are made of."""

    subscription_id: uuid.UUID
    user_id: str
    plan: Plan  # the plan it is on after the transition
    fulfillment: dict[str, Any] | None
    transition: Transition


def events_for(
    changed: Changed, free_plan: Plan, actor: str, now: datetime, note: str | None = None
) -> list[DomainEvent]:
    """The outbox events of one transition (the bulk renewals use it as well)."""
    transition, user = changed.transition, changed.user_id
    payload: dict[str, Any] | None = None

    def data() -> dict[str, Any]:  # built once, and only for a transition with events
        nonlocal payload
        if payload is None:
            payload = state_data(changed.subscription_id, user, changed.plan.code, transition.after)
        return payload

    reason = transition.reason
    found: list[DomainEvent] = []
    if transition.status_changed:
        granted = entitlements_for(
            transition.after, features_of(changed.plan), features_of(free_plan), now
        )
        found.append(
            DomainEvent(
                events.SUBSCRIPTION_STATUS_CHANGED,
                user,
                {
                    **data(),
                    "from": transition.before.status.value if transition.before else None,
                    "to": transition.after.status.value,
                    "reason": reason,
                    "actor": actor,
                    "tier": granted.tier,
                    "entitlements": list(granted.features),
                },
                now,
            )
        )
    if reason in STARTED_REASONS:
        found.append(DomainEvent(events.SUBSCRIPTION_STARTED, user, data(), now))
    if reason in CANCELLED_REASONS:
        found.append(
            DomainEvent(events.SUBSCRIPTION_CANCELLED, user, {**data(), "reason": note}, now)
        )
    if reason in PAUSED_REASONS:
        until = events.iso(transition.after.resumes_at)
        found.append(
            DomainEvent(events.SUBSCRIPTION_PAUSED, user, {**data(), "resumesAt": until}, now)
        )
    if reason == "unpaused":
        found.append(DomainEvent(events.SUBSCRIPTION_RESUMED, user, data(), now))
    if reason in ("upgraded", "downgraded"):
        previous = transition.before.plan_code if transition.before else None
        kind = (
            events.SUBSCRIPTION_UPGRADED if reason == "upgraded" else events.SUBSCRIPTION_DOWNGRADED
        )
        found.append(DomainEvent(kind, user, {**data(), "fromPlanCode": previous}, now))
    if reason in PAID_PERIOD_REASONS and changed.fulfillment:
        found.append(
            DomainEvent(
                events.FULFILLMENT_REQUESTED,
                user,
                {**data(), "fulfillment": changed.fulfillment},
                now,
            )
        )
    templates = NOTIFICATIONS.get(reason, ())
    if reason == "payment_failed" and transition.after.status is Status.PAST_DUE:
        templates = (*templates, "subscription_past_due")
    for template in templates:
        found.append(events.notification(user, template, now, **data()))
    return found
