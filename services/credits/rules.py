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


def check_refund(amount_cents: int, refundable: int) -> None:
    if refundable == 0:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT, "this payment is refunded in full", "amountCents"
        )
    if amount_cents <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "amountCents must be positive", "amountCents")
    if amount_cents > refundable:
        raise DomainError(
            ErrorCode.REFUND_EXCEEDS_PAYMENT,
            f"at most {refundable} can still be refunded on this payment",
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
