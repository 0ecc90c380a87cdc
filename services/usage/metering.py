"""Counting and enforcing usage. `consume_quota` checks and counts in one step (the
service's AI features ask before they run); `record_usage` counts what already
happened. Both are idempotent by `eventId`: a replay answers as the first call did, and
the same id with a different body is IDEMPOTENCY_KEY_REUSED."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models import Meter, Subscription
from services.billing.idempotency import request_hash
from services.billing.rules import Line
from services.common.errors import DomainError, ErrorCode
from services.messaging import events
from services.messaging.events import DomainEvent
from services.messaging.live import QuotaChange
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.plans import features_of
from services.store.subscriptions import state_of
from services.store.usage import Overage
from services.subscriptions.entitlements import entitlements_for
from services.subscriptions.lifecycle import Status
from services.usage.meters import require_meter
from services.usage.rules import (
    Aggregation,
    QuotaTerms,
    Refusal,
    access_refusal,
    check_quantity,
    overage_line,
    overage_units,
    remaining,
    thresholds_crossed,
    usage_period,
)

log = logging.getLogger(__name__)
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_EVENT_ID = 255  # the usage_events key column  # clock skew of the services reporting usage


@dataclass(frozen=True)
class ConsumeQuota:
    user_id: str
    meter_key: str
    quantity: int
    event_id: str


@dataclass(frozen=True)
class RecordUsage:
    user_id: str
    meter_key: str
    quantity: int
    event_id: str
    occurred_at: datetime | None = None
    value: str | None = None  # what a UNIQUE_COUNT meter counts distinct


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    remaining: int | None  # None: unlimited
    resets_at: datetime
    reason: Refusal | None
    used: int

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "remaining": self.remaining,
            "resetsAt": self.resets_at.isoformat(),
            "reason": self.reason.value if self.reason else None,
            "used": self.used,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuotaDecision:
        reason = data.get("reason")
        return cls(
            allowed=bool(data["allowed"]),
            remaining=data.get("remaining"),
            resets_at=datetime.fromisoformat(data["resetsAt"]),
            reason=Refusal(reason) if reason else None,
            used=int(data.get("used", 0)),
        )


@dataclass(frozen=True)
class MeterUsage:
    meter_key: str
    used: int
    included_units: int | None
    remaining: int | None
    overage_units: int
    overage_amount_cents: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class Allowance:
    """What applies to a user's use of one meter right now."""

    terms: QuotaTerms | None
    refusal: Refusal | None
    period: tuple[datetime, datetime]


@dataclass(frozen=True)
class Standing:
    """What a user may use at a moment, whatever the meter: the plan whose quotas apply,
    the features granted now, and the usage period."""

    quota_plan_id: uuid.UUID
    features: frozenset[str]
    suspended: bool
    period: tuple[datetime, datetime]


async def _standing(uow: UnitOfWork, user_id: str, at: datetime) -> Standing:
    row: Subscription | None = await uow.subscriptions.current(user_id)
    free_plan = await uow.plans.free_plan()
    state = state_of(row) if row is not None else None
    plan = row.plan if row is not None else None
    granted = entitlements_for(
        state, features_of(plan) if plan else None, features_of(free_plan), at
    )
    # The subscription's plan and period while its plan is what is granted; else free.
    on_plan = row is not None and plan is not None and granted.tier == plan.code
    period = usage_period(
        row.current_period_start if on_plan and row else None,
        row.current_period_end if on_plan and row else None,
        at,
    )
    return Standing(
        quota_plan_id=plan.id if on_plan and plan else free_plan.id,
        features=frozenset(granted.features),
        suspended=state is not None and state.status is Status.SUSPENDED,
        period=period,
    )


async def _allowance(uow: UnitOfWork, standing: Standing, meter: Meter) -> Allowance:
    quota = await uow.usage.quota(standing.quota_plan_id, meter.id)
    terms = (
        QuotaTerms(quota.included_units, quota.overage_unit_price_cents, quota.hard_limit)
        if quota
        else None
    )
    refusal = access_refusal(standing.features, standing.suspended, meter.feature, terms)
    return Allowance(terms, refusal, standing.period)


async def _count(
    uow: UnitOfWork,
    user_id: str,
    meter: Meter,
    quantity: int,
    allowance: Allowance,
    value: str | None,
    now: datetime,
) -> QuotaDecision:
    resets_at = allowance.period[1]
    if allowance.refusal is not None or allowance.terms is None:
        used = await uow.usage.used(user_id, meter.id, allowance.period[0])
        return QuotaDecision(False, 0, resets_at, allowance.refusal, used)
    terms = allowance.terms
    if meter.aggregation is Aggregation.UNIQUE_COUNT:
        assert value is not None
        if not await uow.usage.first_sighting(user_id, meter.id, allowance.period[0], value):
            used = await uow.usage.used(user_id, meter.id, allowance.period[0])
            return QuotaDecision(True, remaining(terms, used), resets_at, None, used)
    limit = terms.limit()
    counted = None
    if limit is None or quantity <= limit:
        counted = await uow.usage.count(user_id, meter, allowance.period, quantity, limit)
    if counted is None:
        used = await uow.usage.used(user_id, meter.id, allowance.period[0])
        return QuotaDecision(
            False, remaining(terms, used), resets_at, Refusal.QUOTA_EXHAUSTED, used
        )
    before = counted - quantity if meter.aggregation is not Aggregation.MAX else 0
    for percent in thresholds_crossed(terms, before, counted):
        uow.record(_threshold_reached(user_id, meter, terms, percent, counted, allowance, now))
    return QuotaDecision(True, remaining(terms, counted), resets_at, None, counted)


def _threshold_reached(
    user_id: str,
    meter: Meter,
    terms: QuotaTerms,
    percent: int,
    used: int,
    allowance: Allowance,
    now: datetime,
) -> DomainEvent:
    """For the notification service: "you have used 80% of your AI coach calls"."""
    start, end = allowance.period
    return DomainEvent(
        events.USAGE_THRESHOLD_REACHED,
        user_id,
        {
            "userId": user_id,
            "meterKey": meter.key,
            "thresholdPercent": percent,
            "used": used,
            "includedUnits": terms.included_units,
            "hardLimit": terms.hard_limit,
            "periodStart": events.iso(start),
            "periodEnd": events.iso(end),
        },
        now,
    )


async def _idempotent(
    deps: Deps,
    user_id: str,
    meter_key: str,
    event_id: str,
    quantity: int,
    fingerprint: dict[str, Any],
    occurred_at: datetime | None,
    value: str | None,
) -> QuotaDecision:
    key = event_id.strip()
    if not key or len(key) > MAX_EVENT_ID:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"eventId must be 1-{MAX_EVENT_ID} chars", "eventId"
        )
    digest = request_hash("usage", fingerprint)
    now = deps.clock.now()
    at = occurred_at or now
    if at > now + FUTURE_TOLERANCE:
        raise DomainError(ErrorCode.INVALID_INPUT, "occurredAt is in the future", "occurredAt")
    async with deps.uow() as uow:
        meter = await require_meter(uow, meter_key)
        check_quantity(quantity, meter.aggregation)
        if meter.aggregation is Aggregation.UNIQUE_COUNT and not value:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a UNIQUE_COUNT event needs its value", "value"
            )
        allowance = await _allowance(uow, await _standing(uow, user_id, at), meter)
        if occurred_at is not None and not allowance.period[0] <= at < allowance.period[1]:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "occurredAt is outside the current usage period",
                "occurredAt",
            )
        claimed = await uow.usage.claim_event(
            {
                "user_id": user_id,
                "event_id": key,
                "meter_id": meter.id,
                "quantity": quantity,
                "request_hash": digest,
                "counted": False,
                "answer": {},
                "period_start": allowance.period[0],
                "occurred_at": at,
                "recorded_at": now,
            }
        )
        if not claimed:
            return await _replay(uow, user_id, key, digest)
        decision = await _count(uow, user_id, meter, quantity, allowance, value, now)
        await uow.usage.answer_event(user_id, key, decision.allowed, decision.to_json())
        await uow.commit()
    if decision.allowed:
        await _push(
            deps,
            QuotaChange(user_id, meter_key, decision.used, decision.remaining, decision.resets_at),
        )
    return decision


async def _push(deps: Deps, change: QuotaChange) -> None:
    """Best effort, after the commit: the client's remaining units, live."""
    if deps.live is not None:
        try:
            await deps.live.publish([change.message()])
        except Exception:
            log.warning("could not push a quota change for %s", change.user_id, exc_info=True)


async def _replay(uow: UnitOfWork, user_id: str, event_id: str, digest: str) -> QuotaDecision:
    first = await uow.usage.event(user_id, event_id)
    assert first is not None
    if first.request_hash != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this eventId was used for a different usage event",
            "eventId",
        )
    return QuotaDecision.from_json(first.answer)


async def consume_quota(deps: Deps, cmd: ConsumeQuota) -> QuotaDecision:
    """Check and count in one step: allowed (counted) or refused (nothing counted)."""
    fingerprint = {"op": "consume", "meter": cmd.meter_key, "quantity": cmd.quantity}
    return await _idempotent(
        deps, cmd.user_id, cmd.meter_key, cmd.event_id, cmd.quantity, fingerprint, None, None
    )


async def record_usage(deps: Deps, cmd: RecordUsage) -> QuotaDecision:
    """Count usage that happened. Refusals (no quota, not entitled, past a hard limit)
    are business errors: nothing is counted."""
    fingerprint = {
        "op": "record",
        "meter": cmd.meter_key,
        "quantity": cmd.quantity,
        "at": cmd.occurred_at.isoformat() if cmd.occurred_at else None,
        "value": cmd.value,
    }
    decision = await _idempotent(
        deps,
        cmd.user_id,
        cmd.meter_key,
        cmd.event_id,
        cmd.quantity,
        fingerprint,
        cmd.occurred_at,
        cmd.value,
    )
    if not decision.allowed:
        code = (
            ErrorCode.QUOTA_EXHAUSTED
            if decision.reason is Refusal.QUOTA_EXHAUSTED
            else ErrorCode.FEATURE_NOT_ENTITLED
        )
        raise DomainError(code, f"usage refused: {decision.reason}", "meterKey")
    return decision


async def usage_of(deps: Deps, user_id: str) -> list[MeterUsage]:
    """Every meter the user's plan includes: used, remaining and overage this period."""
    now = deps.clock.now()
    found = []
    async with deps.uow() as uow:
        standing = await _standing(uow, user_id, now)
        for meter in await uow.usage.meters():
            allowance = await _allowance(uow, standing, meter)
            if allowance.terms is None:
                continue
            terms = allowance.terms
            used = await uow.usage.used(user_id, meter.id, allowance.period[0])
            over = overage_units(terms, used)
            found.append(
                MeterUsage(
                    meter_key=meter.key,
                    used=used,
                    included_units=terms.included_units,
                    remaining=remaining(terms, used),
                    overage_units=over,
                    overage_amount_cents=over * terms.overage_unit_price_cents,
                    period_start=allowance.period[0],
                    period_end=allowance.period[1],
                )
            )
    return found


def renewal_usage_lines(
    row: Subscription, ended_at: datetime, overages: dict[tuple[str, datetime], list[Overage]]
) -> list[Line]:
    """The USAGE lines a renewal ending the period [current start, `ended_at`) carries."""
    started = row.current_period_start
    if started is None:
        return []
    return [
        overage_line(
            o.meter_name,
            o.unit,
            o.included_units,
            o.used,
            o.unit_price_cents,
            row.plan.code,
            (started, ended_at),
        )
        for o in overages.get((row.user_id, started), [])
    ]
