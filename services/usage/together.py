"""Counting many usage events in one transaction, by one statement for a few
(`COUNT_TOGETHER_SQL` in services/store/usage/together.py) or two for many
(services/store/usage/many.py): each counter moves once by its events' sum (a hard
limit guards each sum), and every event goes in with its answer, its counter as it
stood after it, as if counted one after the other in the batch's order; thresholds
crossed go to the outbox in the same transaction. A known event id is a replay: it is
answered as it was the first time. Used by the REST batch and the `usage.recorded`
consumer (services/usage/batches.py) and by the group commit of single calls
(services/usage/group_commit.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from services.cache.gate import Verdict
from services.common.errors import DomainError
from services.messaging.events import DomainEvent
from services.messaging.live import QuotaChange
from services.platform.deps import Deps
from services.store.messaging import copy_outbox
from services.store.usage.many import count_many
from services.store.usage.together import CountedRow, Terms, known_events
from services.store.usage.together import count_together as count_few
from services.usage.counting import QuotaDecision, UsageEvent, push, replayed, threshold_events
from services.usage.rules import QuotaTerms
from services.usage.standing import Allowance

RACE_RETRIES = 5
FEW = 100  # rows counted by one statement (a round trip saved) rather than two


class Item(NamedTuple):
    """A simple event (one COUNT or SUM counter, no packs), with Redis's verdict when a
    hard limit was checked there first. (Tuples: a batch makes one per event.)"""

    event: UsageEvent
    allowance: Allowance
    verdict: Verdict | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.event.user_id, self.event.event_id


class Counted(NamedTuple):
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
    """Each item's outcome, in order. A repeat of an event id inside the batch is sent
    alone (it is a replay once the first is stored). Replays are looked up first when
    `replays_likely`; otherwise a replay rolls the batch back and it is counted again
    with the lookup."""
    check_known = replays_likely
    for _ in range(RACE_RETRIES):
        try:
            return await _count_once(deps, items, check_known)
        except _Raced:
            check_known = True
    # Each retry finds the twins committed (the insert waited for them): not reached.
    raise RuntimeError("usage batch kept racing concurrent twins")


CounterKey = tuple[str, Any, datetime]


async def _count_once(deps: Deps, items: Sequence[Item], check_known: bool) -> list[Counted]:
    now = deps.clock.now()
    keys = [item.key for item in items]
    firsts: dict[tuple[str, str], int] = {}  # each id's first place in the batch
    for index, key in enumerate(keys):
        firsts.setdefault(key, index)
    decisions: dict[tuple[str, str], QuotaDecision] = {}
    groups: dict[CounterKey, list[tuple[Item, QuotaDecision]]] = defaultdict(list)
    async with deps.plain_connection() as connection, connection.transaction():
        known = await known_events(connection, list(firsts)) if check_known else {}
        fresh = [(key, items[index]) for key, index in firsts.items() if key not in known]
        refusals = {key: _refusal(i) for key, i in fresh if i.verdict and not i.verdict.allowed}
        rows = [_row(i, refusals.get(key) if refusals else None) for key, i in fresh]
        count = count_few if len(rows) <= FEW else count_many
        results, stored = await count(connection, rows, now) if rows else ([], 0)
        if stored < len(refusals) + sum(after is not None for after in results):
            raise _Raced  # an id was recorded first: all of this rolls back
        for (key, item), after in zip(fresh, results, strict=True):
            if after is not None:
                decisions[key] = decision = _allowed(item, after)
                groups[_counter(item)].append((item, decision))
            elif key in refusals:
                decisions[key] = refusals[key]
        crossed = [event for group in groups.values() for event in _thresholds(group, now)]
        if crossed:
            topic_for = deps.settings.topic_for
            outbox = [(event, topic_for(event.type)) for event in crossed]
            await copy_outbox(connection, deps.settings.event_source, outbox)
    outcomes = [
        ALONE
        if firsts[key] != index
        else Counted(decisions[key], True)
        if key in decisions
        else Counted(_replayed(item.event, *known[key]), False)
        if key in known
        else ALONE
        for index, (key, item) in enumerate(zip(keys, items, strict=True))
    ]
    await push(deps, [_change(*group[-1]) for group in groups.values()])
    return outcomes


def _row(item: Item, refusal: QuotaDecision | None) -> CountedRow:
    quota = item.allowance.quota
    assert quota is not None
    event = item.event
    return CountedRow(
        event.user_id,
        event.event_id,
        event.quantity,
        event.digest,
        event.occurred_at,
        Terms(
            quota.meter_id,
            item.allowance.period,
            quota.terms.limit(),
            quota.terms.included_units,
        ),
        refusal.to_json() if refusal else None,
    )


def _counter(item: Item) -> CounterKey:
    assert item.allowance.quota is not None
    return item.event.user_id, item.allowance.quota.meter_id, item.allowance.period[0]


def _terms(item: Item) -> QuotaTerms:
    assert item.allowance.quota is not None
    return item.allowance.quota.terms


def _refusal(item: Item) -> QuotaDecision:
    assert item.verdict is not None
    return QuotaDecision.exhausted(_terms(item), item.verdict.used, item.allowance.period[1])


def _allowed(item: Item, used: int) -> QuotaDecision:
    return QuotaDecision.counted(_terms(item), used, item.allowance.period[1])


def _thresholds(group: list[tuple[Item, QuotaDecision]], now: datetime) -> list[DomainEvent]:
    """Thresholds the counter crossed, each announced by the event that crossed it."""
    if not any(_terms(item).included_units for item, _ in group):
        return []  # no included units, no thresholds: the common case, kept cheap
    return [
        crossed
        for item, decided in group
        for crossed in threshold_events(
            item.event,
            _terms(item),
            decided.used - item.event.quantity,
            decided.used,
            item.allowance.period,
            now,
        )
    ]


def _change(item: Item, decided: QuotaDecision) -> QuotaChange:
    """What live clients of the counter hear: where it stands after the batch."""
    event = item.event
    return QuotaChange(
        event.user_id, event.meter_key, decided.used, decided.remaining, decided.resets_at
    )


def _replayed(
    event: UsageEvent, first_digest: str, first_answer: dict[str, Any]
) -> QuotaDecision | DomainError:
    try:
        return replayed(event, first_digest, first_answer)
    except DomainError as error:
        return error
