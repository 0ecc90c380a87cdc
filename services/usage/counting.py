"""Counting one usage event in PostgreSQL, the source of truth, two ways.

`count_fast` is the hot path (COUNT and SUM meters without packs): the counter's guarded
upsert, then the event row, in one short transaction; a replayed event id conflicts on
the event row and rolls the count back. `count_full` handles everything else (unknown
meters, refusals, distinct values, maxima, quota packs): the event is claimed first,
then counted with the counter row locked while packs are drawn."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, NamedTuple

from services.cache.gate import QuotaGate
from services.common.errors import DomainError, ErrorCode
from services.messaging import events
from services.messaging.events import DomainEvent
from services.messaging.live import QuotaChange
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.usage.counts import claim_refused, count_and_claim, used_many
from services.usage.meters import require_meter
from services.usage.rules import (
    Aggregation,
    QuotaTerms,
    Refusal,
    check_quantity,
    draw_from_packs,
    remaining,
    split_draw,
    thresholds_crossed,
)
from services.usage.standing import Allowance

log = logging.getLogger(__name__)


class QuotaDecision(NamedTuple):  # immutable, cheap to build: a batch answers each event
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
    def counted(cls, terms: QuotaTerms, used: int, resets_at: datetime) -> QuotaDecision:
        """Allowed: a simple count (no packs) took the counter to `used`."""
        return cls(True, remaining(terms, used), resets_at, None, used)

    @classmethod
    def exhausted(cls, terms: QuotaTerms, used: int, resets_at: datetime) -> QuotaDecision:
        """Refused at the hard limit, the counter standing at `used` (no packs)."""
        return cls(False, remaining(terms, used), resets_at, Refusal.QUOTA_EXHAUSTED, used)

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


class UsageEvent(NamedTuple):  # immutable, and 3x cheaper to build: one per event
    """One event to count, checked: who, which meter, how much, under which id."""

    user_id: str
    meter_key: str
    event_id: str
    quantity: int
    digest: str  # of the request body: the same id with another body is refused
    occurred_at: datetime
    value: str | None  # what a UNIQUE_COUNT meter counts distinct

    def row(
        self,
        meter_id: uuid.UUID,
        period_start: datetime,
        decision: QuotaDecision | None,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "event_id": self.event_id,
            "meter_id": meter_id,
            "quantity": self.quantity,
            "request_hash": self.digest,
            "counted": decision.allowed if decision else False,
            "answer": decision.to_json() if decision else {},
            "period_start": period_start,
            "occurred_at": self.occurred_at,
            "recorded_at": now,
        }


async def replay(uow: UnitOfWork, event: UsageEvent) -> QuotaDecision:
    first = await uow.usage.event(event.user_id, event.event_id)
    assert first is not None
    return replayed(event, first.request_hash, first.answer)


def replayed(event: UsageEvent, first_digest: str, first_answer: dict[str, Any]) -> QuotaDecision:
    """A known event id's answer: the first one, if the body is the same."""
    if first_digest != event.digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this eventId was used for a different usage event",
            "eventId",
        )
    return QuotaDecision.from_json(first_answer)


def threshold_events(
    event: UsageEvent,
    terms: QuotaTerms,
    before: int,
    after: int,
    period: tuple[datetime, datetime],
    now: datetime,
) -> list[DomainEvent]:
    """For the notification service: "you have used 80% of your AI coach calls"."""
    found = []
    for percent in thresholds_crossed(terms, before, after):
        data = {
            "userId": event.user_id,
            "meterKey": event.meter_key,
            "thresholdPercent": percent,
            "used": after,
            "includedUnits": terms.included_units,
            "hardLimit": terms.hard_limit,
            "periodStart": events.iso(period[0]),
            "periodEnd": events.iso(period[1]),
        }
        found.append(DomainEvent(events.USAGE_THRESHOLD_REACHED, event.user_id, data, now))
    return found


class _Replayed(Exception):
    """The event id was known: the transaction rolls its count back."""


class _NeedsFullPath(Exception):
    """The count crossed a threshold: the full path counts it and writes the event."""


async def count_fast(
    deps: Deps, gate: QuotaGate | None, event: UsageEvent, allowance: Allowance
) -> QuotaDecision:
    """Redis's verdict first for a hard limit, then the count and its event row in one
    statement on a plain asyncpg connection."""
    assert allowance.quota is not None
    quota, (start, resets_at) = allowance.quota, allowance.period
    terms, limit, now = quota.terms, quota.terms.limit(), deps.clock.now()
    key = gate.key(event.user_id, quota.meter_id, start) if gate else ""
    verdict = None
    if gate is not None and limit is not None:

        async def used_now(_: list[str]) -> list[int]:
            async with deps.plain_connection() as connection:
                return await used_many(connection, [(event.user_id, quota.meter_id, start)])

        verdict = await gate.take(key, event.quantity, limit, used_now)
        if verdict is not None and not verdict.allowed:
            return await _refused(deps, event, allowance, verdict.used, now)
    taken = verdict is not None
    values = {
        "user_id": event.user_id,
        "meter_id": quota.meter_id,
        "period_start": start,
        "period_end": resets_at,
        "quantity": event.quantity,
        "limit": limit,
        "event_id": event.event_id,
        "request_hash": event.digest,
        "resets_at": resets_at.isoformat(),
        "included_units": terms.included_units,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
    }
    try:
        async with deps.plain_connection() as connection, connection.transaction():
            used, claimed = await count_and_claim(connection, values)
            if used is not None and not claimed:
                raise _Replayed
            if used is not None and thresholds_crossed(terms, used - event.quantity, used):
                raise _NeedsFullPath
    except _NeedsFullPath:  # Redis's count stands for the one the full path makes
        decision = None
        try:
            decision = await count_full(deps, event, allowance)
            return decision
        finally:
            if taken and gate is not None and (decision is None or not decision.allowed):
                await gate.give_back(key, event.quantity)
    except _Replayed:
        if taken and gate is not None:
            await gate.give_back(key, event.quantity)
        async with deps.uow() as uow:
            return await replay(uow, event)
    except BaseException:
        if taken and gate is not None:
            await gate.give_back(key, event.quantity)
        raise
    if used is None:  # the guard refused: Redis (if any) drifted below PostgreSQL
        if taken and gate is not None:
            await gate.give_back(key, event.quantity)
            await gate.forget(key)
        return await count_full(deps, event, allowance)
    return QuotaDecision.counted(terms, used, resets_at)


async def _refused(
    deps: Deps, event: UsageEvent, allowance: Allowance, used: int, now: datetime
) -> QuotaDecision:
    """Redis refused it: the refusal is stored as the event's answer (one statement)."""
    assert allowance.quota is not None
    terms, (start, resets_at) = allowance.quota.terms, allowance.period
    decision = QuotaDecision.exhausted(terms, used, resets_at)
    async with deps.plain_connection() as connection:
        stored = await claim_refused(
            connection, event.row(allowance.quota.meter_id, start, decision, now)
        )
    if stored:
        return decision
    async with deps.uow() as uow:
        return await replay(uow, event)


async def count_full(deps: Deps, event: UsageEvent, allowance: Allowance) -> QuotaDecision:
    now = deps.clock.now()
    start, resets_at = allowance.period
    async with deps.uow() as uow:
        meter = await require_meter(uow, event.meter_key)
        check_quantity(event.quantity, meter.aggregation)
        if meter.aggregation is Aggregation.UNIQUE_COUNT and not event.value:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "a UNIQUE_COUNT event needs its value", "value"
            )
        quota = (
            allowance.quota if allowance.quota and allowance.quota.meter_id == meter.id else None
        )
        refusal = (
            (allowance.refusal or Refusal.FEATURE_NOT_ENTITLED)
            if quota is None
            else allowance.refusal
        )
        if not await uow.usage.claim_event(event.row(meter.id, start, None, now)):
            return await replay(uow, event)
        if quota is None or refusal is not None:
            used, _ = await uow.usage.counter(event.user_id, meter.id, start)
            decision = QuotaDecision(False, 0, resets_at, refusal, used)
        else:
            decision = await _count_locked(
                uow, event, quota.terms, meter.aggregation, meter.id, allowance, now
            )
        await uow.usage.answer_event(
            event.user_id, event.event_id, decision.allowed, decision.to_json()
        )
        await uow.commit()
        return decision


async def _count_locked(
    uow: UnitOfWork,
    event: UsageEvent,
    terms: QuotaTerms,
    aggregation: Aggregation,
    meter_id: uuid.UUID,
    allowance: Allowance,
    now: datetime,
) -> QuotaDecision:
    """With the counter row locked: a distinct value counts once, then the count draws
    from the user's packs past the included units."""
    start, resets_at = allowance.period
    counter = await uow.usage.lock_counter(event.user_id, meter_id, allowance.period)
    used, pack_units = counter
    packs = await uow.packs.usable_for_update(event.user_id, meter_id, now)
    lefts = [row.units - row.used_units for row in packs]
    if aggregation is Aggregation.UNIQUE_COUNT:
        assert event.value is not None
        if not await uow.usage.first_sighting(event.user_id, meter_id, start, event.value):
            left = remaining(terms, used, pack_units, sum(lefts))
            return QuotaDecision(True, left, resets_at, None, used)
    draw = draw_from_packs(terms, aggregation, used, pack_units, event.quantity, sum(lefts))
    if not draw.allowed:
        left = remaining(terms, used, pack_units, sum(lefts))
        return QuotaDecision(False, left, resets_at, Refusal.QUOTA_EXHAUSTED, used)
    taken = split_draw(draw.drawn, lefts)
    await uow.packs.draw([(row, units) for row, units in zip(packs, taken, strict=True) if units])
    await uow.usage.set_counter(event.user_id, meter_id, start, draw.used, draw.pack_units)
    for crossed in threshold_events(event, terms, used, draw.used, allowance.period, now):
        uow.record(crossed)
    left = remaining(terms, draw.used, draw.pack_units, sum(lefts) - draw.drawn)
    return QuotaDecision(True, left, resets_at, None, draw.used)


async def push(deps: Deps, changes: list[QuotaChange]) -> None:
    """Best effort, after the commit: the clients' remaining units, live."""
    if deps.quota_pushes is not None:
        for change in changes:
            deps.quota_pushes.offer(change)
        return
    if deps.live is not None and changes:
        try:
            await deps.live.publish([change.message() for change in changes])
        except Exception:
            log.warning("could not push %d quota changes", len(changes), exc_info=True)
