"""Upgrade proration, to the second, in integer minor units.

Rounding rule: each line is `price × remaining_seconds ÷ period_seconds`, rounded
half up to a whole minor unit, computed with integers only. The credit line is the
unused part of the old plan, the charge line the rest of the period on the new plan;
the amount due is charge − credit, never below zero (a negative balance is not
carried forward as account credit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Proration:
    credit_cents: int
    charge_cents: int
    remaining_seconds: int
    period_seconds: int

    @property
    def amount_due_cents(self) -> int:
        return max(self.charge_cents - self.credit_cents, 0)


def _share(price_cents: int, remaining: int, total: int) -> int:
    # round half up: floor((2·p·r + t) / 2t)
    return (2 * price_cents * remaining + total) // (2 * total)


def prorate(
    old_price_cents: int,
    new_price_cents: int,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
) -> Proration:
    total = int((period_end - period_start).total_seconds())
    if total <= 0:
        raise ValueError("period must have a positive length")
    remaining = int((period_end - now).total_seconds())
    remaining = min(max(remaining, 0), total)
    return Proration(
        credit_cents=_share(old_price_cents, remaining, total),
        charge_cents=_share(new_price_cents, remaining, total),
        remaining_seconds=remaining,
        period_seconds=total,
    )
