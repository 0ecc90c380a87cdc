"""Group commit of single `consumeQuota` and `recordUsage` calls (simple counts:
one COUNT or SUM counter, no packs). Calls that arrive together (see
services/common/group_commit.py for how a batch forms) are decided and stored as one:

1. Redis's check-and-count for every hard-limited call in one script run, in the
   batch's order, so the decision stays exact across processes as before;
2. one PostgreSQL transaction for all of them (services/usage/together.py): each
   counter moved once, guarded by its limit, and every event row written by one
   statement, threshold events in the same transaction;
3. each call is answered after that transaction commits, so an answer "allowed" is
   never lost to a crash.

A call that cannot be decided in the batch is sent back to be counted alone, on the
path a call takes without group commit (services/usage/counting.py): a repeat of
an event id inside the batch, a counter whose limit refused the batch's sum (Redis
had drifted below PostgreSQL, or Redis gave no verdict), or a batch that failed (a
deadlock, a lost connection). Redis's counts for calls not counted in the batch are
given back first."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.cache.gate import QuotaGate, Verdict
from services.common.errors import DomainError
from services.common.group_commit import GroupCommit
from services.platform.deps import Deps
from services.store.usage.counts import used_many
from services.usage.counting import QuotaDecision, UsageEvent
from services.usage.standing import Allowance
from services.usage.together import ALONE, Counted, Item, count_together

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    event: UsageEvent
    allowance: Allowance


# What a caller hears: its decision, a reused id's error, or None: count it alone.
Answer = QuotaDecision | DomainError | None


def group_commit(deps: Deps) -> GroupCommit[Call, Answer]:
    """The service's group commit for `deps` (the composition root's)."""
    settings = deps.settings

    async def flush(calls: Sequence[Call]) -> list[Answer]:
        return await _flush(deps, calls)

    return GroupCommit(
        flush,
        max_calls=settings.usage_group_max_calls,
        wait_seconds=settings.usage_group_wait_ms / 1000,
        in_flight=settings.usage_group_in_flight,
    )


async def _flush(deps: Deps, calls: Sequence[Call]) -> list[Answer]:
    gate = deps.quota_gate
    verdicts: list[Verdict | None] = (
        await _verdicts(deps, gate, calls) if gate else [None] * len(calls)
    )
    items = [Item(c.event, c.allowance, v) for c, v in zip(calls, verdicts, strict=True)]
    outcomes: list[Counted] = [ALONE] * len(calls)
    try:
        outcomes = await count_together(deps, items, replays_likely=False)
    except Exception:  # a deadlock, a lost connection: each call goes alone
        log.warning("a usage group commit failed; counting its calls alone", exc_info=True)
    if gate is not None:
        await _give_back(gate, calls, verdicts, outcomes)
    return [outcome.decision for outcome in outcomes]


def _key(gate: QuotaGate, call: Call) -> str:
    assert call.allowance.quota is not None
    return gate.key(call.event.user_id, call.allowance.quota.meter_id, call.allowance.period[0])


async def _verdicts(deps: Deps, gate: QuotaGate, calls: Sequence[Call]) -> list[Verdict | None]:
    """Redis's verdict for each hard-limited call (None: no limit, or no verdict)."""
    limited = [
        (index, _key(gate, call), call.event.quantity, limit)
        for index, call in enumerate(calls)
        if call.allowance.quota is not None
        and (limit := call.allowance.quota.terms.limit()) is not None
    ]
    counters: dict[str, tuple[str, uuid.UUID, datetime]] = {}
    for index, key, _, _ in limited:
        quota = calls[index].allowance.quota
        assert quota is not None
        counters[key] = (
            calls[index].event.user_id,
            quota.meter_id,
            calls[index].allowance.period[0],
        )

    async def used_now(keys: list[str]) -> list[int]:
        async with deps.plain_connection() as connection:
            return await used_many(connection, [counters[key] for key in keys])

    found = await gate.take_many([(key, q, limit) for _, key, q, limit in limited], used_now)
    verdicts: list[Verdict | None] = [None] * len(calls)
    for (index, _, _, _), verdict in zip(limited, found, strict=True):
        verdicts[index] = verdict
    return verdicts


async def _give_back(
    gate: QuotaGate,
    calls: Sequence[Call],
    verdicts: list[Verdict | None],
    outcomes: list[Counted],
) -> None:
    """Redis's count of each call it allowed that this batch did not count: a replay,
    or a call sent alone (whose counter is dropped too, in case Redis drifted: the call
    counted alone rebuilds it)."""
    for call, verdict, outcome in zip(calls, verdicts, outcomes, strict=True):
        if verdict is None or not verdict.allowed or outcome.fresh:
            continue
        key = _key(gate, call)
        await gate.give_back(key, call.event.quantity)
        if outcome.decision is None:
            await gate.forget(key)
