"""Counting many usage events in one transaction, each table written once: the counters
take each counter's sum in one statement (a hard limit guards each sum), then the events
go in with their answers, each answered with its counter as it stood after it, as if
counted one after the other in the batch's order. A known event id is a replay: it is
answered as it was the first time. Used by the REST batch and the `usage.recorded`
consumer (services/usage/batches.py) and by the group commit of single calls
(services/usage/group_commit.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.cache.gate import Verdict
from services.common.errors import DomainError
from services.messaging.live import QuotaChange
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.usage.counting import QuotaDecision, UsageEvent, push, record_thresholds, replay
from services.usage.rules import Refusal, remaining
from services.usage.standing import Allowance

RACE_RETRIES = 5


@dataclass(frozen=True)
class Item:
    """A simple event (one COUNT or SUM counter, no packs), with Redis's verdict when a
    hard limit was checked there first."""

    event: UsageEvent
    allowance: Allowance
    verdict: Verdict | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.event.user_id, self.event.event_id


@dataclass(frozen=True)
class Counted:
    """An item's outcome: its answer (or why it was refused: a reused id), `fresh` when
    this batch stored it (not a replay); `decision` None: count it alone, its counter
    would have passed its limit with the batch's sum."""

    decision: QuotaDecision | DomainError | None
    fresh: bool


ALONE = Counted(None, False)


class _Raced(Exception):
    """A twin was recorded first (elsewhere, or in this very batch): count again."""


async def count_together(
    deps: Deps, items: Sequence[Item], *, replays_likely: bool
) -> list[Counted]:
    """Each item's outcome, in order; the items' event ids must be distinct. Replays
    are looked up first when `replays_likely`; otherwise a replay rolls the batch back
    and it is counted again with the lookup."""
    check_known = replays_likely
    for _ in range(RACE_RETRIES):
        try:
            return await _count_once(deps, items, check_known)
        except _Raced:
            check_known = True
    # Each retry finds the twins committed (the insert waited for them): not reached.
    raise RuntimeError("usage batch kept racing concurrent twins")


CounterKey = tuple[str, Any, datetime, datetime]


async def _count_once(deps: Deps, items: Sequence[Item], check_known: bool) -> list[Counted]:
    now = deps.clock.now()
    async with deps.uow() as uow:
        known = await uow.usage.known_events([i.key for i in items]) if check_known else set()
        groups: dict[CounterKey, list[Item]] = defaultdict(list)
        decisions: dict[tuple[str, str], QuotaDecision] = {}
        rows = []
        for item in items:
            if item.key in known:
                continue
            assert item.allowance.quota is not None
            if item.verdict is not None and not item.verdict.allowed:
                decisions[item.key] = refused = _refusal(item, item.verdict.used)
                meter_id, start = item.allowance.quota.meter_id, item.allowance.period[0]
                rows.append(item.event.row(meter_id, start, refused, now))
                continue
            quota_key = (item.event.user_id, item.allowance.quota.meter_id)
            groups[(*quota_key, *item.allowance.period)].append(item)
        sums = [
            (*key, sum(i.event.quantity for i in group), _limit(group))
            for key, group in groups.items()
        ]
        after = await uow.usage.add_to_counters(
            [s for s in sums if s[5] is None or s[4] <= s[5]]  # a new counter takes it whole
        )
        changes = []
        for key, group in groups.items():
            counter = after.get(key[:3])
            if counter is None:
                continue  # its limit refused the sum: each of them is counted alone
            decided = _answer(uow, group, counter, now)
            decisions.update(decided)
            last = decided[group[-1].key]
            changes.append(
                QuotaChange(key[0], group[-1].event.meter_key, last.used, last.remaining, key[3])
            )
            rows += [i.event.row(key[1], key[2], decided[i.key], now) for i in group]
        if await uow.usage.add_answered_events(rows) != len(rows):
            await uow.rollback()
            raise _Raced
        outcomes = [
            Counted(decisions[i.key], True)
            if i.key in decisions
            else Counted(await _replay(uow, i.event), False)
            if i.key in known
            else ALONE
            for i in items
        ]
        await uow.commit()
    await push(deps, changes)
    return outcomes


def _limit(group: list[Item]) -> int | None:
    """The tightest hard limit of a counter's events (all the same unless the plan
    changed between two snapshots read for the batch)."""
    limits = [
        limit
        for i in group
        if i.allowance.quota is not None and (limit := i.allowance.quota.terms.limit()) is not None
    ]
    return min(limits) if limits else None


def _refusal(item: Item, used: int) -> QuotaDecision:
    assert item.allowance.quota is not None
    terms, resets_at = item.allowance.quota.terms, item.allowance.period[1]
    return QuotaDecision(False, remaining(terms, used), resets_at, Refusal.QUOTA_EXHAUSTED, used)


def _answer(
    uow: UnitOfWork, items: list[Item], counter_after: int, now: datetime
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
        found[item.key] = QuotaDecision(True, remaining(terms, used), period[1], None, used)
    return found


async def _replay(uow: UnitOfWork, event: UsageEvent) -> QuotaDecision | DomainError:
    try:
        return await replay(uow, event)
    except DomainError as error:
        return error
