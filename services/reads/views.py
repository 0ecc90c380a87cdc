"""Read models handed to the API layer: plain frozen data, no ORM objects leak out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import Invoice, PaymentMethod, Plan, PricingRecord, Subscription, SubscriptionHistory
from services.billing.periods import Interval
from services.billing.rules import InvoiceStatus, LineKind
from services.pricing.rules import PlanKind
from services.store.plans import features_of
from services.store.subscriptions import state_of
from services.subscriptions.entitlements import Entitlements, entitlements_for
from services.subscriptions.lifecycle import PaymentConfirmation, Status


@dataclass(frozen=True)
class PlanView:
    id: uuid.UUID
    code: str
    name: str
    description: str
    kind: PlanKind
    price_cents: int
    currency: str
    interval: Interval
    trial_days: int
    entitlements: tuple[str, ...]
    grace_entitlements: tuple[str, ...]
    tier_rank: int
    valid_days: int | None
    archived: bool

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(
            id=plan.id,
            code=plan.code,
            name=plan.name,
            description=plan.description,
            kind=plan.kind,
            price_cents=plan.price_cents,
            currency=plan.currency,
            interval=plan.interval,
            trial_days=plan.trial_days,
            entitlements=tuple(plan.entitlements),
            grace_entitlements=tuple(plan.grace_entitlements),
            tier_rank=plan.tier_rank,
            valid_days=plan.valid_days,
            archived=plan.archived,
        )


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
    resumes_at: datetime | None
    price_paid_cents: int
    currency: str
    pending_plan: PlanView | None
    entitlements: EntitlementsView
    status_updated_at: datetime
    is_current: bool
    fulfillment: dict[str, Any] | None
    created_at: datetime

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
            resumes_at=row.resumes_at,
            price_paid_cents=row.price_paid_cents,
            currency=row.currency,
            pending_plan=PlanView.of(row.pending_plan) if row.pending_plan else None,
            entitlements=EntitlementsView(row.user_id, granted.tier, granted.features, row.status),
            status_updated_at=row.status_updated_at,
            is_current=row.is_current,
            fulfillment=row.fulfillment,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class InvoiceLineView:
    kind: LineKind
    description: str
    amount_cents: int
    plan_code: str | None
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True)
class InvoiceView:
    id: uuid.UUID
    number: str
    subscription_id: uuid.UUID | None
    quota_pack_id: uuid.UUID | None
    status: InvoiceStatus
    amount_refunded_cents: int
    currency: str
    total_cents: int
    amount_paid_cents: int
    period_start: datetime | None
    period_end: datetime | None
    paid_at: datetime | None
    created_at: datetime
    lines: tuple[InvoiceLineView, ...]
    amount_credited_cents: int = 0

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceView:
        return cls(
            id=invoice.id,
            number=invoice.number,
            subscription_id=invoice.subscription_id,
            quota_pack_id=invoice.quota_pack_id,
            status=invoice.status,
            amount_refunded_cents=invoice.amount_refunded_cents,
            amount_credited_cents=invoice.amount_credited_cents,
            currency=invoice.currency,
            total_cents=invoice.total_cents,
            amount_paid_cents=invoice.amount_paid_cents,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            paid_at=invoice.paid_at,
            created_at=invoice.created_at,
            lines=tuple(
                InvoiceLineView(
                    line.kind,
                    line.description,
                    line.amount_cents,
                    line.plan_code,
                    line.period_start,
                    line.period_end,
                )
                for line in invoice.lines
            ),
        )


@dataclass(frozen=True)
class PaymentMethodView:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str | None
    holder_zip: str | None
    is_default: bool
    platform: str

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodView:
        card = method.card_info
        return cls(
            id=method.payment_method_id,
            brand=str(card.get("brand", "")),
            last4=str(card.get("last4", "")),
            exp_month=int(card.get("exp_month", 0)),
            exp_year=int(card.get("exp_year", 0)),
            holder_name=method.card_holder_name,
            holder_zip=method.card_holder_zip,
            is_default=method.is_default,
            platform=method.platform,
        )


@dataclass(frozen=True)
class HistoryView:
    from_status: Status | None
    to_status: Status
    reason: str
    note: str | None
    actor: str
    occurred_at: datetime

    @classmethod
    def of(cls, row: SubscriptionHistory) -> HistoryView:
        return cls(row.from_status, row.to_status, row.reason, row.note, row.actor, row.occurred_at)


@dataclass(frozen=True)
class PricingRecordView:
    plan_code: str
    price_cents: int
    previous_price_cents: int | None
    currency: str
    description: str
    changed_by: str
    changed_at: datetime

    @classmethod
    def of(cls, plan_code: str, row: PricingRecord) -> PricingRecordView:
        return cls(
            plan_code,
            row.price_cents,
            row.previous_price_cents,
            row.currency,
            row.description,
            row.changed_by,
            row.changed_at,
        )
