"""Usage rules: what a valid meter and usage event look like, which period usage counts
in, whether a meter may be used, and the decision for a quota. Plain functions: the
atomic counting itself is one guarded SQL statement (services/store/usage/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from services.billing.rules import Line, LineKind
from services.common.errors import DomainError, ErrorCode

METER_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
MAX_QUANTITY = 1_000_000  # per event: anything larger is a client bug


class Aggregation(StrEnum):
    COUNT = "COUNT"  # each event counts one
    SUM = "SUM"  # the events' quantities add up
    MAX = "MAX"  # the largest quantity seen in the period
    UNIQUE_COUNT = "UNIQUE_COUNT"  # distinct values seen in the period


class PackStatus(StrEnum):
    PENDING = "PENDING"  # bought, the payment not settled yet
    ACTIVE = "ACTIVE"  # paid: its units count
    FAILED = "FAILED"  # the payment failed: nothing was added


class Refusal(StrEnum):
    QUOTA_EXHAUSTED = "QUOTA_EXHAUSTED"
    FEATURE_NOT_ENTITLED = "FEATURE_NOT_ENTITLED"
    SUBSCRIPTION_SUSPENDED = "SUBSCRIPTION_SUSPENDED"


@dataclass(frozen=True)
class QuotaTerms:
    """What a plan includes of one meter."""

    included_units: int | None  # None: unlimited
    overage_unit_price_cents: int
    hard_limit: bool

    def limit(self) -> int | None:
        """The most the counter may reach: only a hard limit caps it."""
        return self.included_units if self.hard_limit else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    used: int
    remaining: int | None  # None: unlimited
    reason: Refusal | None = None


def check_meter_key(key: str, field: str = "key") -> None:
    if not METER_KEY.match(key):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "a meter key is lower case letters, digits, '_', '.', '-', starting with a letter",
            field,
        )


def check_quantity(quantity: int, aggregation: Aggregation) -> int:
    """The amount an event adds to its counter."""
    if not 0 < quantity <= MAX_QUANTITY:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"quantity must be 1 to {MAX_QUANTITY}", "quantity"
        )
    if aggregation is Aggregation.COUNT and quantity != 1:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a COUNT meter counts events: quantity 1", "quantity"
        )
    return quantity


def check_terms(terms: QuotaTerms) -> None:
    if terms.included_units is not None and terms.included_units < 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "includedUnits may not be negative", "includedUnits"
        )
    if terms.overage_unit_price_cents < 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "overageUnitPriceCents may not be negative",
            "overageUnitPriceCents",
        )
    if terms.hard_limit and terms.included_units is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "a hard limit needs includedUnits", "hardLimit")


@lru_cache(maxsize=256)  # a batch's events without a time all fall at its `now`
def calendar_month(moment: datetime) -> tuple[datetime, datetime]:
    """A free user's usage period: the calendar month (UTC) holding `moment`."""
    start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def usage_period(
    period_start: datetime | None, period_end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Usage resets every billing period of the subscription it is counted against; with
    no current period (the free plan), every calendar month."""
    if period_start is not None and period_end is not None and period_start <= now < period_end:
        return period_start, period_end
    return calendar_month(now)


def access_refusal(
    features: frozenset[str], suspended: bool, meter_feature: str | None, terms: QuotaTerms | None
) -> Refusal | None:
    """Why the meter may not be used now, if it may not: suspension blocks everything,
    a plan without a quota for the meter or, for a meter tied to a feature, that feature
    not granted now (a grace period keeps only the grace entitlements) blocks the meter.
    A meter with no feature is unlocked by the quota alone."""
    if suspended:
        return Refusal.SUBSCRIPTION_SUSPENDED
    if terms is None or (meter_feature is not None and meter_feature not in features):
        return Refusal.FEATURE_NOT_ENTITLED
    return None


def remaining(terms: QuotaTerms, used: int, pack_units: int = 0, pack_left: int = 0) -> int | None:
    """Units left before a hard limit refuses or overage starts: the included units, the
    pack units this period drew, and what the packs still hold."""
    if terms.included_units is None:
        return None
    return max(terms.included_units + pack_units + pack_left - used, 0)


def overage_units(terms: QuotaTerms, used: int, pack_units: int = 0) -> int:
    if terms.included_units is None or terms.hard_limit:
        return 0
    return max(used - terms.included_units - pack_units, 0)


@dataclass(frozen=True)
class Draw:
    """A count that may take units from quota packs."""

    allowed: bool
    used: int  # the counter after
    pack_units: int  # of it, what packs covered (after)
    drawn: int  # taken from packs by this count


def draw_from_packs(
    terms: QuotaTerms,
    aggregation: Aggregation,
    used: int,
    pack_units: int,
    quantity: int,
    available: int,
) -> Draw:
    """Packs are used after the plan's included units, before overage: whatever this
    count takes past the units covered so far comes from the packs while they last; a
    hard limit refuses a count the packs cannot cover."""
    after = max(used, quantity) if aggregation is Aggregation.MAX else used + quantity
    if terms.included_units is None:
        return Draw(True, after, pack_units, 0)
    need = max(after - terms.included_units - pack_units, 0)
    if terms.hard_limit and need > available:
        return Draw(False, used, pack_units, 0)
    drawn = min(need, available)
    return Draw(True, after, pack_units + drawn, drawn)


def split_draw(drawn: int, lefts: list[int]) -> list[int]:
    """How many units each pack gives, in the order given (soonest to expire first)."""
    taken = []
    for left in lefts:
        take = min(left, drawn)
        taken.append(take)
        drawn -= take
    if drawn:
        raise ValueError("the packs hold fewer units than drawn")
    return taken


def overage_line(
    meter_name: str,
    unit: str,
    included_units: int,
    over: int,
    unit_price_cents: int,
    plan_code: str,
    period: tuple[datetime, datetime],
) -> Line:
    """The invoice's line for a period's usage past the included units (and the packs)."""
    description = (
        f"{meter_name}: {over} {unit} over the {included_units} included "
        f"at {unit_price_cents} per {unit}"
    )
    return Line(LineKind.USAGE, description, over * unit_price_cents, plan_code, *period)


THRESHOLDS = (80, 100)  # percent of the included units, announced once per period each


def thresholds_crossed(terms: QuotaTerms, before: int, after: int) -> list[int]:
    """The thresholds a counter passed going from `before` to `after` (counters only
    grow, and one transaction moves them at a time, so each is crossed once)."""
    included = terms.included_units
    if not included:
        return []
    return [
        percent
        for percent in THRESHOLDS
        if before < -(-included * percent // 100) <= after  # ceil: the unit that reaches it
    ]
