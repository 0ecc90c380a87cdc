"""Invoice and payment vocabularies, how an invoice is built from a charge, and what a
processor's report does to a payment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
    USAGE = "USAGE"  # overage past a plan's included units, billed with the renewal
    QUOTA_PACK = "QUOTA_PACK"  # units bought once (a plan of kind QUOTA)
    DISCOUNT = "DISCOUNT"  # a coupon's share, negative
    CREDIT = "CREDIT"  # the customer's credit balance applied, negative


# Lines that pay an invoice without the card: the credit balance, and an earlier
# invoice's unused time moved over by an upgrade (both negative).
CREDIT_SOURCES = frozenset({LineKind.CREDIT, LineKind.PRORATION_CREDIT})


class PaymentPurpose(StrEnum):
    FIRST_PAYMENT = "FIRST_PAYMENT"
    TRIAL_CONVERSION = "TRIAL_CONVERSION"
    RENEWAL = "RENEWAL"
    RETRY = "RETRY"
    UPGRADE = "UPGRADE"
    QUOTA_PACK = "QUOTA_PACK"  # a one-off pack of units
    FINAL_USAGE = "FINAL_USAGE"  # overage of a cancelled subscription's last period


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


GATEWAY_RETRY_FIRST = timedelta(seconds=30)
GATEWAY_RETRY_MAX = timedelta(hours=1)


def gateway_retry_delay(attempts: int) -> timedelta:
    """How long a due charge the gateway could not take waits before its next try:
    30 s after the first failure, doubling, at most an hour. An outage is not a decline:
    nobody's card was refused, so the subscription's own dunning does not start."""
    doublings = min(max(attempts - 1, 0), 16)  # 30 s x 2^7 is past the cap already
    delay: timedelta = GATEWAY_RETRY_FIRST * (2**doublings)
    return min(delay, GATEWAY_RETRY_MAX)


class StaleResult(Exception):
    """A processor's report older than what the payment holds, or about a payment that
    succeeded already: it changes nothing."""


def result_changes_status(
    current: PaymentStatus, seen: datetime | None, reported: PaymentStatus, at: datetime
) -> bool:
    """Whether a report made `at` changes a payment's status (False: it only records
    that it was seen). Reports are applied in the order they happened, not arrived."""
    if current is PaymentStatus.SUCCESS:
        raise StaleResult  # a succeeded payment never changes again
    if seen is not None and at <= seen:
        raise StaleResult
    return reported is not PaymentStatus.STARTED and reported is not current
