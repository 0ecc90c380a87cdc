"""Plan catalog rules: what a valid plan and a valid price look like, and which price a
subscription's invoice charges when the plan's price changed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from services.common.errors import DomainError, ErrorCode


class PlanKind(StrEnum):
    SUBSCRIPTION = "SUBSCRIPTION"
    QUOTA = "QUOTA"


MAX_VALID_DAYS = 3660


def check_valid_days(valid_days: int | None, kind: PlanKind) -> None:
    """Only packs expire; a subscription's periods say how long it lasts."""
    if valid_days is None:
        return
    if kind is not PlanKind.QUOTA:
        raise DomainError(ErrorCode.INVALID_INPUT, "validDays is for QUOTA plans", "validDays")
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"validDays must be 1 to {MAX_VALID_DAYS}", "validDays"
        )


# ISO 4217 codes we bill in; zero-decimal currencies need no special case because
# every amount is already in the currency's minor unit.
SUPPORTED_CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "NGN",
        "CAD",
        "AUD",
        "JPY",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "INR",
        "BRL",
        "MXN",
        "ZAR",
        "KES",
        "GHS",
        "NZD",
        "SGD",
    ]
)
DEFAULT_TRIAL_DAYS = 14
MAX_PRICE_CENTS = 100_000_000  # one million in major units; anything above is a typo
PLAN_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
FEATURE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_price(price_cents: int, field: str = "priceCents") -> None:
    if isinstance(price_cents, bool) or not isinstance(price_cents, int):
        raise DomainError(ErrorCode.INVALID_INPUT, "price must be an integer in minor units", field)
    if price_cents < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "price cannot be negative", field)
    if price_cents > MAX_PRICE_CENTS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"price above {MAX_PRICE_CENTS}", field)


def normalize_currency(currency: str, field: str = "currency") -> str:
    code = currency.strip().upper()
    if code not in SUPPORTED_CURRENCIES:
        raise DomainError(ErrorCode.UNSUPPORTED_CURRENCY, f"unknown currency {currency!r}", field)
    return code


def check_plan_code(code: str) -> None:
    if not PLAN_CODE.match(code):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "plan code must be 2-63 lowercase letters, digits, '-' or '_'",
            "code",
        )


def check_features(features: list[str], field: str) -> tuple[str, ...]:
    for key in features:
        if not FEATURE_KEY.match(key):
            raise DomainError(ErrorCode.INVALID_INPUT, f"invalid feature key {key!r}", field)
    return tuple(dict.fromkeys(features))


def check_grace_subset(entitlements: tuple[str, ...], grace: tuple[str, ...]) -> None:
    extra = set(grace) - set(entitlements)
    if extra:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"grace entitlements must be a subset of the plan's: {sorted(extra)}",
            "graceEntitlements",
        )


MAX_TIER_RANK = 1_000_000


def check_tier_rank(rank: int, *, is_free: bool) -> None:
    """Ranks order plans for upgrades: the free plan is the floor (0), every paid plan
    ranks above it."""
    if is_free and rank != 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "the free plan always ranks 0", "tierRank")
    if not is_free and not 1 <= rank <= MAX_TIER_RANK:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a paid plan ranks above the free plan: 1 to {MAX_TIER_RANK}",
            "tierRank",
        )


def default_trial_days(price_cents: int, trial_days: int | None) -> int:
    """Paid plans get a 14-day trial unless told otherwise; free plans none."""
    if trial_days is not None:
        if trial_days < 0 or trial_days > 365:
            raise DomainError(ErrorCode.INVALID_INPUT, "trial days must be 0-365", "trialDays")
        return trial_days
    return DEFAULT_TRIAL_DAYS if price_cents > 0 else 0


# --- a subscription's own price ----------------------------------------------------


class ExistingSubscribers(StrEnum):
    """What a plan's price change does to the subscriptions already on it."""

    KEEP_PRICE = "KEEP_PRICE"  # grandfathered: they keep the price they have
    MOVE_AT = "MOVE_AT"  # their first invoice on or after `moveAt` charges the new price


def price_for_period(
    own_price_cents: int | None,
    plan_price_cents: int,
    scheduled_price_cents: int | None,
    scheduled_price_at: datetime | None,
    period_start: datetime,
    override: tuple[int, datetime | None] | None = None,
) -> int:
    """What a subscription's invoice for the period starting at `period_start` charges
    before discounts and usage: the customer's own price on the plan while it lasts
    (`override`: price and until), else the price it was moved to once that move is
    due, else its own price (a row with none follows the plan)."""
    if override is not None and (override[1] is None or period_start < override[1]):
        return override[0]
    if (
        scheduled_price_cents is not None
        and scheduled_price_at is not None
        and period_start >= scheduled_price_at
    ):
        return scheduled_price_cents
    return own_price_cents if own_price_cents is not None else plan_price_cents


def check_move(
    existing: ExistingSubscribers, move_at: datetime | None, now: datetime, notice_days: int
) -> None:
    """MOVE_AT needs its moment, at least the notice ahead; KEEP_PRICE takes none."""
    if existing is ExistingSubscribers.KEEP_PRICE:
        if move_at is not None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "moveAt is for existingSubscribers MOVE_AT", "moveAt"
            )
        return
    if move_at is None or move_at < now + timedelta(days=notice_days):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"moveAt must be at least {notice_days} days ahead (PRICE_NOTICE_DAYS)",
            "moveAt",
        )
