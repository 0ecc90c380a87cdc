"""Credit and refund rules: what a ledger entry and a refund may be. Plain functions."""

from __future__ import annotations

from enum import StrEnum

from services.billing.rules import Line, LineKind
from services.common.errors import DomainError, ErrorCode

MAX_ADJUSTMENT = 100_000_000  # a million in major units: anything larger is a typo


class CreditKind(StrEnum):
    ADJUSTMENT = "ADJUSTMENT"  # an admin gave or took credit
    PRORATION = "PRORATION"  # unused time of a downgrade or an immediate cancellation
    REFUND = "REFUND"  # a refund kept as credit instead of going back to the card
    APPLIED = "APPLIED"  # used on an invoice (negative)
    CREDIT_RESTORED = "CREDIT_RESTORED"  # back from an invoice that ended void or unpaid


class CreditNoteKind(StrEnum):
    """What a credit note gave back against the invoice that paid for it."""

    REFUND = "REFUND"  # a refund, to the card or to the balance
    UNUSED_TIME = "UNUSED_TIME"  # the paid time an immediate cancellation or a pause ended
    PRORATION = "PRORATION"  # the old plan's unused time, paying part of an upgrade


class RefundStatus(StrEnum):
    PENDING = "PENDING"  # the processor has not settled it yet
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def check_adjustment(amount_cents: int, balance_cents: int) -> None:
    if amount_cents == 0 or abs(amount_cents) > MAX_ADJUSTMENT:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"amountCents must be non-zero and at most {MAX_ADJUSTMENT} either way",
            "amountCents",
        )
    if balance_cents + amount_cents < 0:
        raise DomainError(
            ErrorCode.INSUFFICIENT_CREDIT,
            f"the balance is {balance_cents}: it cannot go below zero",
            "amountCents",
        )


def refundable_cents(amount_paid_cents: int, refunded_cents: int) -> int:
    return max(amount_paid_cents - refunded_cents, 0)


def returnable_cents(
    paid_cents: int, applied_cents: int, refunded_cents: int, credited_cents: int
) -> int:
    """What an invoice can still give back: what paid it (card and credit) less what
    refunds and unused-time credits already took off it."""
    return max(paid_cents + applied_cents - refunded_cents - credited_cents, 0)


def unused_time_cents(
    time_paid_cents: int,
    funded_cents: int,
    refunded_cents: int,
    returnable: int,
    remaining_seconds: int,
    span_seconds: int,
) -> int:
    """The unused part of what an invoice paid for its time: the time's share of the
    invoice, less its share of the refunds (pro rata, rounded down), prorated to the
    remaining seconds (half up), and never more than the invoice can still give back."""
    if funded_cents <= 0 or span_seconds <= 0 or remaining_seconds <= 0:
        return 0
    time_paid = min(max(time_paid_cents, 0), funded_cents)
    unrefunded = time_paid * max(funded_cents - refunded_cents, 0) // funded_cents
    remaining = min(remaining_seconds, span_seconds)
    share = (2 * unrefunded * remaining + span_seconds) // (2 * span_seconds)
    return min(share, returnable)


def check_refund(amount_cents: int, refundable: int, *, credited_cents: int = 0) -> None:
    """A refund within what is left; the refusal says how much that is, and why less
    than the payment remains when unused-time credit already went back."""
    why = f" ({credited_cents} went back as credit for unused time)" if credited_cents else ""
    if refundable == 0:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            f"nothing is left to refund on this payment{why}",
            "amountCents",
        )
    if amount_cents <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "amountCents must be positive", "amountCents")
    if amount_cents > refundable:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            f"at most {refundable} can still be refunded on this payment{why}",
            "amountCents",
        )


def credit_line(balance_cents: int, lines: tuple[Line, ...]) -> Line | None:
    """The CREDIT line that spends the balance on an invoice, never past its total."""
    total = sum(line.amount_cents for line in lines)
    used = min(balance_cents, total)
    if used <= 0:
        return None
    first = lines[0]
    return Line(
        LineKind.CREDIT,
        "Credit balance applied",
        -used,
        first.plan_code,
        first.period_start,
        first.period_end,
    )
