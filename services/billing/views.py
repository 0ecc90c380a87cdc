"""Invoices and payment methods as the API layer sees them: plain frozen data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models import Invoice, PaymentMethod
from services.billing.rules import InvoiceStatus, LineKind


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
    user_id: str = ""

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceView:
        return cls(
            id=invoice.id,
            number=invoice.number,
            subscription_id=invoice.subscription_id,
            quota_pack_id=invoice.quota_pack_id,
            user_id=invoice.user_id,
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
