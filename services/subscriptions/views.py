"""Subscriptions as the API layer sees them (plain frozen data, no ORM objects leak
out), and the results of the use cases that charge: the subscription, the payment, and
the business errors committed alongside (a declined card still records the attempt)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import InvalidRequestError

from models import Plan, Subscription, SubscriptionHistory
from services.billing.payments import PaymentView
from services.common.errors import DomainError, ErrorCode
from services.pricing.customer_prices import Override, override_of, renewal_price
from services.pricing.periods import next_period_end
from services.pricing.views import PlanView
from services.store.plans import features_of
from services.store.subscriptions import state_of
from services.subscriptions.lifecycle import PaymentConfirmation, Status
from services.subscriptions.state import Entitlements, entitlements_for


@dataclass(frozen=True)
class EntitlementsView:
    user_id: str
    tier: str
    features: tuple[str, ...]
    status: Status | None


@dataclass(frozen=True)
class SubscriptionView:
    id: uuid.UUID
    user_id: str
    plan: PlanView
    status: Status
    payment_confirmation: PaymentConfirmation
    current_period_start: datetime | None
    current_period_end: datetime | None
    trial_start: datetime | None
    trial_end: datetime | None
    cancel_at_period_end: bool
    cancelled_at: datetime | None
    cancel_reason: str | None
    activated_at: datetime | None
    grace_expires_at: datetime | None
    next_retry_at: datetime | None
    resumes_at: datetime | None
    price_paid_cents: int
    currency: str
    pending_plan: PlanView | None
    entitlements: EntitlementsView
    status_updated_at: datetime
    is_current: bool
    fulfillment: dict[str, Any] | None
    created_at: datetime
    price_cents: int = 0  # what its next invoice charges before discounts and usage
    scheduled_price_change: ScheduledPriceChange | None = None
    price_override: tuple[int, datetime | None] | None = None  # the customer's own: (price, until)

    @property
    def next_charge_at(self) -> datetime | None:
        if self.status in (Status.TRIALING, Status.ACTIVE):
            return self.current_period_end
        return None

    @property
    def next_charge_plan(self) -> PlanView | None:
        if self.next_charge_at is None:
            return None
        return self.pending_plan or self.plan

    @classmethod
    def of(cls, row: Subscription, free_plan: Plan, now: datetime) -> SubscriptionView:
        granted: Entitlements = entitlements_for(
            state_of(row), features_of(row.plan), features_of(free_plan), now
        )
        return cls(
            id=row.id,
            user_id=row.user_id,
            plan=PlanView.of(row.plan),
            status=row.status,
            payment_confirmation=row.payment_confirmation,
            current_period_start=row.current_period_start,
            current_period_end=row.current_period_end,
            trial_start=row.trial_start,
            trial_end=row.trial_end,
            cancel_at_period_end=row.cancel_at_period_end,
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
            activated_at=row.activated_at,
            grace_expires_at=row.grace_expires_at,
            next_retry_at=row.next_retry_at,
            resumes_at=row.resumes_at,
            price_paid_cents=row.price_paid_cents,
            currency=row.currency,
            pending_plan=PlanView.of(row.pending_plan) if row.pending_plan else None,
            entitlements=EntitlementsView(row.user_id, granted.tier, granted.features, row.status),
            status_updated_at=row.status_updated_at,
            is_current=row.is_current,
            fulfillment=row.fulfillment,
            created_at=row.created_at,
            price_cents=_next_price(row),
            scheduled_price_change=ScheduledPriceChange.of(row),
            price_override=loaded_override(row),
        )


@dataclass(frozen=True)
class ScheduledPriceChange:
    """A price change the subscription was moved to that its next invoice does not
    charge yet: the price, and the first invoice (period end) that will."""

    price_cents: int
    effective_at: datetime

    MAX_PERIODS = 1200  # a move a hundred years of months away is shown no further

    @classmethod
    def of(cls, row: Subscription) -> ScheduledPriceChange | None:
        price, at = row.scheduled_price_cents, row.scheduled_price_at
        end, anchor = row.current_period_end, row.billing_cycle_anchor
        if price is None or at is None or end is None or end >= at:
            return None
        for _ in range(cls.MAX_PERIODS):
            end = next_period_end(anchor or end, end, row.plan.interval, row.plan.interval_count)
            if end >= at:
                return cls(price, end)
        return cls(price, at)


def loaded_override(row: Subscription) -> Override | None:
    """The customer's own price on the subscription's plan, when it was loaded with it
    (a row made in this transaction was not: its next read shows it)."""
    try:
        return override_of(row.price_override)
    except (InvalidRequestError, AttributeError):
        return None


def _next_price(row: Subscription) -> int:
    """What the subscription's next invoice charges (only the current plan's customer
    price is loaded with the row)."""
    charged = row.pending_plan or row.plan
    override = loaded_override(row) if charged is row.plan else None
    return renewal_price(row, charged, row.current_period_end or row.created_at, override)


@dataclass(frozen=True)
class HistoryView:
    from_status: Status | None
    to_status: Status
    reason: str
    note: str | None
    actor: str
    occurred_at: datetime
    from_plan_code: str | None = None  # set when the transition changed the plan
    plan_code: str | None = None

    @classmethod
    def of(cls, row: SubscriptionHistory) -> HistoryView:
        details = row.details or {}
        return cls(
            row.from_status,
            row.to_status,
            row.reason,
            row.note,
            row.actor,
            row.occurred_at,
            details.get("fromPlanCode"),
            details.get("planCode"),
        )


@dataclass(frozen=True)
class ChargeOutcomeResult:
    subscription: SubscriptionView | None
    payment: PaymentView | None
    errors: tuple[DomainError, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": str(self.subscription.id) if self.subscription else None,
            "payment": self.payment.to_json() if self.payment else None,
            "errors": errors_json(self.errors),
        }


def errors_json(errors: tuple[DomainError, ...]) -> list[dict[str, Any]]:
    """Business errors as an idempotent result stores them (`stored_errors` reads them)."""
    return [{"code": e.code.value, "message": e.message, "field": e.field} for e in errors]


def stored_errors(data: dict[str, Any]) -> tuple[DomainError, ...]:
    return tuple(
        DomainError(ErrorCode(e["code"]), e["message"], e["field"]) for e in data["errors"]
    )


def stored_subscription_id(data: dict[str, Any]) -> uuid.UUID | None:
    raw = data.get("subscription_id")
    return uuid.UUID(raw) if raw else None


def stored_payment(data: dict[str, Any]) -> PaymentView | None:
    return PaymentView.from_json(data["payment"]) if data.get("payment") else None
