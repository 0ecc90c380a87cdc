"""Recording usage in batches (`POST /api/v1/usage`, the `usage.recorded` consumer).

Events that need no decision (a COUNT or SUM meter without a hard limit, distinct
values or packs: nothing can refuse them) are counted together in one transaction:
their rows inserted at once (a known id is a replay), each counter moved once by the
batch's sum, and each event answered with the counter as it stood after it. Everything
else goes one by one through the same path as `recordUsage`, so a refusal refuses only
its own event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.errors import DomainError
from services.messaging.live import QuotaChange
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.reads.queries import snapshots_of
from services.usage.counting import QuotaDecision, UsageEvent, record_thresholds, replay
from services.usage.metering import (
    RecordUsage,
    check_counted,
    prepare,
    push,
    record_fingerprint,
    record_usage,
)
from services.usage.rules import remaining
from services.usage.standing import Allowance

Outcome = QuotaDecision | DomainError


@dataclass(frozen=True)
class _Batched:
    index: int
    event: UsageEvent
    allowance: Allowance


def _batchable(found: Allowance) -> bool:
    return found.simple and found.quota is not None and found.quota.terms.limit() is None


async def record_usage_batch(deps: Deps, commands: Sequence[RecordUsage]) -> list[Outcome]:
    """Each command's decision, or the business error that refused it."""
    now = deps.clock.now()
    users = sorted({cmd.user_id for cmd in commands})
    snapshots = dict(zip(users, await snapshots_of(deps, users), strict=True))
    outcomes: list[Outcome | None] = [None] * len(commands)
    batched, one_by_one, seen = [], [], set()
    for index, cmd in enumerate(commands):
        try:
            event, found = prepare(
                snapshots[cmd.user_id],
                cmd.user_id,
                cmd.meter_key,
                cmd.event_id,
                cmd.quantity,
                record_fingerprint(cmd),
                cmd.occurred_at,
                cmd.value,
                now,
            )
        except DomainError as error:
            outcomes[index] = error
            continue
        key = (event.user_id, event.event_id)
        if _batchable(found) and key not in seen:
            seen.add(key)
            batched.append(_Batched(index, event, found))
        else:  # a repeat inside the batch is answered after the first is stored
            one_by_one.append(index)
    if batched:
        for item, outcome in zip(batched, await _count_together(deps, batched), strict=True):
            outcomes[item.index] = outcome
    for index in one_by_one:
        try:
            outcomes[index] = await record_usage(deps, commands[index])
        except DomainError as error:
            outcomes[index] = error
    return [o for o in outcomes if o is not None]


class _Raced(Exception):
    """A concurrent twin recorded one of the batch's events first: count again."""


RACE_RETRIES = 5


async def _count_together(deps: Deps, batched: list[_Batched]) -> list[Outcome]:
    """The batch in one transaction, each table written once: the events already
    known (replays) are read first, the counters take the rest's sums, then the events
    go in with their answers. A twin recorded meanwhile rolls it all back and the batch
    is counted again (it is a replay then)."""
    for _ in range(RACE_RETRIES):
        try:
            return await _count_once(deps, batched)
        except _Raced:
            continue
    # Each retry finds the twins committed (the insert waited for them): not reached.
    raise RuntimeError("usage batch kept racing concurrent twins")


async def _count_once(deps: Deps, batched: list[_Batched]) -> list[Outcome]:
    now = deps.clock.now()
    async with deps.uow() as uow:
        known = await uow.usage.known_events([(b.event.user_id, b.event.event_id) for b in batched])
        groups: dict[tuple[str, Any, datetime, datetime], list[_Batched]] = defaultdict(list)
        for item in batched:
            if (item.event.user_id, item.event.event_id) not in known:
                assert item.allowance.quota is not None
                quota_key = (item.event.user_id, item.allowance.quota.meter_id)
                groups[(*quota_key, *item.allowance.period)].append(item)
        after = await uow.usage.add_to_counters(
            [(*key, sum(i.event.quantity for i in items)) for key, items in groups.items()]
        )
        decisions: dict[tuple[str, str], QuotaDecision] = {}
        changes, rows = [], []
        for key, items in groups.items():
            decided = _answer(uow, items, after[key[:3]], now)
            decisions.update(decided)
            last = decided[(items[-1].event.user_id, items[-1].event.event_id)]
            changes.append(
                QuotaChange(key[0], items[-1].event.meter_key, last.used, last.remaining, key[3])
            )
            rows += [
                i.event.row(key[1], key[2], decided[(i.event.user_id, i.event.event_id)], now)
                for i in items
            ]
        if await uow.usage.add_answered_events(rows) != len(rows):
            await uow.rollback()
            raise _Raced
        outcomes = [
            decisions.get((b.event.user_id, b.event.event_id)) or await _replay(uow, b.event)
            for b in batched
        ]
        await uow.commit()
    await push(deps, changes)
    return outcomes


def _answer(
    uow: UnitOfWork, items: list[_Batched], counter_after: int, now: datetime
) -> dict[tuple[str, str], QuotaDecision]:
    """Each event's answer, as if counted one after the other in the batch's order."""
    first = items[0].allowance
    assert first.quota is not None
    terms, period = first.quota.terms, first.period
    used = counter_after - sum(i.event.quantity for i in items)
    record_thresholds(uow, items[0].event, terms, used, counter_after, period, now)
    found = {}
    for item in items:
        used += item.event.quantity
        found[(item.event.user_id, item.event.event_id)] = QuotaDecision(
            True, remaining(terms, used), period[1], None, used
        )
    return found


async def _replay(uow: UnitOfWork, event: UsageEvent) -> Outcome:
    try:
        decision = await replay(uow, event)
        check_counted(decision)
        return decision
    except DomainError as error:
        return error


def refusal_reason(outcome: Outcome) -> str | None:
    """Why an outcome was refused, as a dead letter says it (None: counted)."""
    if isinstance(outcome, DomainError):
        return f"refused: {outcome.code.value}: {outcome.message}"
    return None
