"""The subscription's states, the values the lifecycle rules work on, and the
entitlements each state grants (a function of subscription, plan and now). Models
import the enums from here, so this module imports nothing from models or use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.pricing.periods import Interval
from services.pricing.policy import DEFAULT_POLICY, LifecyclePolicy


class Status(StrEnum):
    PENDING = "PENDING"
    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    SUSPENDED = "SUSPENDED"
    PAUSED = "PAUSED"  # nothing charged, the period frozen, the free tier until resumed


class PaymentConfirmation(StrEnum):
    """Outcome of the latest payment, as the seed's `paymentConfirmation`."""

    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    NOT_REQUIRED = "NOT_REQUIRED"


@dataclass(frozen=True)
class PlanTerms:
    """What the rules need to know about a plan."""

    code: str
    price_cents: int
    currency: str
    interval: Interval
    trial_days: int
    tier_rank: int
    interval_count: int = 1  # periods are this many intervals long
    policy: LifecyclePolicy = DEFAULT_POLICY

    @property
    def is_free(self) -> bool:
        return self.price_cents == 0


@dataclass(frozen=True)
class SubscriptionState:
    status: Status
    plan_code: str
    status_updated_at: datetime
    payment_confirmation: PaymentConfirmation = PaymentConfirmation.PENDING
    billing_cycle_anchor: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    cancelled_at: datetime | None = None
    activated_at: datetime | None = None
    grace_expires_at: datetime | None = None
    next_retry_at: datetime | None = None
    retry_count: int = 0
    pending_plan_code: str | None = None
    status_before_suspension: Status | None = None
    price_paid_cents: int = 0
    resumes_at: datetime | None = None  # PAUSED until then

    @property
    def is_current(self) -> bool:
        """Whether this is the user's one current subscription (the DB enforces one).

        Ended subscriptions free the slot, so the user can check out again.
        """
        if self.status in (Status.EXPIRED, Status.FAILED):
            return False
        if self.status is Status.CANCELED:
            end = self.current_period_end
            return end is not None and self.cancelled_at is not None and end > self.cancelled_at
        return True


@dataclass(frozen=True)
class Transition:
    before: SubscriptionState | None
    after: SubscriptionState
    reason: str

    @property
    def status_changed(self) -> bool:
        return self.before is None or self.before.status is not self.after.status


@dataclass(frozen=True)
class SubscriptionFilter:
    """What an admin listing narrows subscriptions by."""

    status: Status | None = None
    plan_code: str | None = None
    user_id: str | None = None
    user_id_prefix: str | None = None  # support's search: "ali" finds alice, alina


# --- what each state grants: who may use what ------------------------------------

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
