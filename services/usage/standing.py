"""What applies to a user's use of one meter at a moment, read from the user's cached
access snapshot (services/reads/queries.py): the quota of the plan whose quotas apply
(the subscription's while its plan is what is granted, else the free plan's), whether
the meter may be used now, the usage period, and whether quota packs may cover it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from services.reads.queries import access_at, instant
from services.subscriptions.lifecycle import Status
from services.usage.rules import (
    Aggregation,
    QuotaTerms,
    Refusal,
    access_refusal,
    calendar_month,
    usage_period,
)


@dataclass(frozen=True)
class MeterQuota:
    meter_id: uuid.UUID
    aggregation: Aggregation
    feature: str | None
    terms: QuotaTerms


@dataclass(frozen=True)
class Allowance:
    quota: MeterQuota | None  # None: the plan has no quota for it (or no such meter)
    refusal: Refusal | None  # always set when there is no quota
    period: tuple[datetime, datetime]
    packs: bool  # the user holds pack units for the meter
    period_closed: bool  # the moment lies before the period now billed: invoiced already

    @property
    def simple(self) -> bool:
        """Counted by one guarded increment: no packs, no distinct values, no maximum."""
        return (
            self.quota is not None
            and self.refusal is None
            and not self.packs
            and self.quota.aggregation in (Aggregation.COUNT, Aggregation.SUM)
        )


def _quota(raw: list[Any] | None) -> MeterQuota | None:
    return None if raw is None else _parsed_quota(*raw)


@lru_cache(maxsize=4096)  # a usage batch asks for the same few plans' terms per event
def _parsed_quota(
    meter_id: str,
    aggregation: str,
    feature: str | None,
    included: int | None,
    price: int,
    hard: bool,
) -> MeterQuota:
    return MeterQuota(
        uuid.UUID(meter_id), Aggregation(aggregation), feature, QuotaTerms(included, price, hard)
    )


def allowance(
    snapshot: dict[str, Any], user_id: str, meter_key: str, at: datetime, now: datetime
) -> Allowance:
    """The allowance for usage of `meter_key` that happened `at` (checked `now`)."""
    view = access_at(user_id, snapshot, at)
    sub = snapshot["sub"]
    on_plan = sub is not None and view.is_current and view.tier == sub["plan"][0]
    start = instant(sub["periodStart"]) if on_plan else None
    period = usage_period(start, instant(sub["periodEnd"]), at) if on_plan else calendar_month(at)
    quota = _quota(snapshot["quotas"]["sub" if on_plan else "free"].get(meter_key))
    suspended = view.is_current and view.status is Status.SUSPENDED
    refusal = access_refusal(
        frozenset(view.features),
        suspended,
        quota.feature if quota else None,
        quota.terms if quota else None,
    )
    packs: dict[str, str | None] = snapshot["packs"]
    last_expiry = instant(packs.get(meter_key))
    return Allowance(
        quota=quota,
        refusal=refusal,
        period=period,
        packs=meter_key in packs and (last_expiry is None or last_expiry > now),
        period_closed=start is not None and at < start,
    )
