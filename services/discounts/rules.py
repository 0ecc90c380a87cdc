"""Discount rules: what a valid coupon and promotion code look like, when a code may be
redeemed, and what a coupon takes off an invoice. Plain functions over plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.billing.rules import Line, LineKind
from services.common.errors import DomainError, ErrorCode

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_CYCLES = 120


class Duration(StrEnum):
    ONCE = "ONCE"  # the first invoice it covers
    REPEATING = "REPEATING"  # `durationInCycles` invoices
    FOREVER = "FOREVER"


# What a coupon takes off: subscription and proration charges (not usage, not credits).
DISCOUNTABLE = frozenset({LineKind.SUBSCRIPTION, LineKind.PRORATION_CHARGE})


@dataclass(frozen=True)
class CouponTerms:
    code: str
    name: str
    percent_off: int | None
    amount_off_cents: int | None
    currency: str | None
    duration: Duration
    duration_in_cycles: int | None
    applies_to_plans: tuple[str, ...]  # empty: every plan

    def first_cycles(self) -> int | None:
        """How many invoices a new discount covers (None: all of them)."""
        if self.duration is Duration.ONCE:
            return 1
        if self.duration is Duration.REPEATING:
            return self.duration_in_cycles
        return None


def check_code(code: str, field: str = "code") -> str:
    if not CODE.match(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a code is 1-64 letters, digits, '_' or '-', starting with a letter or digit",
            field,
        )
    return code.upper()


def check_coupon(terms: CouponTerms) -> None:
    """Exactly one of percent or amount off; an amount needs its currency; repeating
    coupons say for how many cycles, the others do not."""
    if (terms.percent_off is None) == (terms.amount_off_cents is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "give percentOff or amountOffCents, not both", "percentOff"
        )
    if terms.percent_off is not None and not 1 <= terms.percent_off <= 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "percentOff must be 1 to 100", "percentOff")
    if terms.amount_off_cents is not None:
        if terms.amount_off_cents <= 0:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "amountOffCents must be positive", "amountOffCents"
            )
        if terms.currency is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "an amount off needs a currency", "currency")
    elif terms.currency is not None:  # a percentage fits every currency: one given is a slip
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a percentOff coupon applies in every currency: leave currency out",
            "currency",
        )
    repeating = terms.duration is Duration.REPEATING
    cycles = terms.duration_in_cycles
    if repeating and (cycles is None or not 1 <= cycles <= MAX_CYCLES):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a REPEATING coupon needs durationInCycles 1 to {MAX_CYCLES}",
            "durationInCycles",
        )
    if not repeating and cycles is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "durationInCycles is for REPEATING coupons",
            "durationInCycles",
        )


def check_limit(limit: int | None, field: str) -> None:
    if limit is not None and limit < 1:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{field} must be at least 1", field)


def applicability_refusal(terms: CouponTerms, plan_code: str, currency: str) -> DomainError | None:
    """Why the coupon cannot discount this plan, if it cannot."""
    if terms.applies_to_plans and plan_code not in terms.applies_to_plans:
        return DomainError(
            ErrorCode.COUPON_NOT_APPLICABLE,
            f"this code does not apply to plan {plan_code!r}",
            "promotionCode",
        )
    if terms.currency is not None and terms.currency != currency:
        return DomainError(
            ErrorCode.COUPON_NOT_APPLICABLE,
            f"this code takes {terms.currency} off; the plan is billed in {currency}",
            "promotionCode",
        )
    return None


def expiry_refusal(
    redeem_by: datetime | None, expires_at: datetime | None, now: datetime
) -> DomainError | None:
    for deadline in (redeem_by, expires_at):
        if deadline is not None and now >= deadline:
            return DomainError(
                ErrorCode.PROMOTION_CODE_EXPIRED, "this promotion code has expired", "promotionCode"
            )
    return None


def percent_of(amount_cents: int, percent: int) -> int:
    """`percent`% of an amount, rounded half up to the minor unit."""
    return (amount_cents * percent * 2 + 100) // 200


def discount_line(terms: CouponTerms, lines: tuple[Line, ...]) -> Line | None:
    """The invoice's DISCOUNT line: the coupon's share of the discountable lines of the
    plans it applies to, never more than they add up to (no line goes below zero)."""
    eligible = [
        line
        for line in lines
        if line.kind in DISCOUNTABLE
        and line.amount_cents > 0
        and (not terms.applies_to_plans or line.plan_code in terms.applies_to_plans)
    ]
    # Never more than the invoice adds up to (a proration credit may already lower it).
    invoice_total = sum(line.amount_cents for line in lines)
    base = min(sum(line.amount_cents for line in eligible), invoice_total)
    if base <= 0:
        return None
    if terms.percent_off is not None:
        off = percent_of(base, terms.percent_off)
        what = f"{terms.percent_off}% off"
    else:
        off = min(terms.amount_off_cents or 0, base)
        what = f"{terms.amount_off_cents} off"
    if off == 0:
        return None
    first = eligible[0]
    return Line(
        LineKind.DISCOUNT,
        f"{terms.name} ({terms.code}): {what}",
        -off,
        first.plan_code,
        first.period_start,
        first.period_end,
    )
