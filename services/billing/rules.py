"""Invoice and payment vocabularies, and how an invoice is built from a charge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PAID = "PAID"
    VOID = "VOID"
    UNCOLLECTIBLE = "UNCOLLECTIBLE"


class LineKind(StrEnum):
    SUBSCRIPTION = "SUBSCRIPTION"
    PRORATION_CREDIT = "PRORATION_CREDIT"
    PRORATION_CHARGE = "PRORATION_CHARGE"


class PaymentPurpose(StrEnum):
    FIRST_PAYMENT = "FIRST_PAYMENT"
    TRIAL_CONVERSION = "TRIAL_CONVERSION"
    RENEWAL = "RENEWAL"
    RETRY = "RETRY"
    UPGRADE = "UPGRADE"


class PaymentStatus(StrEnum):
    """The seed's statusLiteral: our own view of a payment's lifecycle."""

    STARTED = "started"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Line:
    kind: LineKind
    description: str
    amount_cents: int
    plan_code: str | None
    period_start: datetime | None
    period_end: datetime | None


def invoice_number(sequence: int) -> str:
    return f"INV-{sequence:08d}"
