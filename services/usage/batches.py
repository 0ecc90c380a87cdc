"""Recording usage in batches (`POST /api/v1/usage`, the `usage.recorded` consumer).

Events that need no decision (a COUNT or SUM meter without a hard limit, distinct
values or packs: nothing can refuse them) are counted together in one transaction:
their rows inserted at once (a known id is a replay), each counter moved once by the
batch's sum, and each event answered with the counter as it stood after it. Everything
else goes one by one through the same path as `recordUsage`, so a refusal refuses only
its own event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.errors import DomainError
from services.common.tasks import take_turn
from services.platform.deps import Deps
from services.reads.queries import snapshots_of
from services.usage.counting import QuotaDecision
from services.usage.metering import (
    RecordUsage,
    check_counted,
    prepare,
    record_fingerprint,
    record_usage,
    usage_digest,
)
from services.usage.standing import Allowance, allowance
from services.usage.together import Item, count_together

Outcome = QuotaDecision | DomainError


def _batchable(found: Allowance) -> bool:
    return found.simple and found.quota is not None and found.quota.terms.limit() is None


@dataclass(frozen=True)
class PlannedBatch:
    """A batch read and checked, nothing written yet: what can be counted together, and
    what goes one by one (or was refused already)."""

    commands: Sequence[RecordUsage]
    outcomes: tuple[Outcome | None, ...]  # set for those refused before counting
    batched: tuple[Item, ...]
    indexes: tuple[int, ...]  # of the batched commands
    one_by_one: tuple[int, ...]


async def plan_usage_batch(deps: Deps, commands: Sequence[RecordUsage]) -> PlannedBatch:
    """Check each command against its user's access snapshot (reads only: the consumer
    plans its next batch while the last one is written)."""
    now = deps.clock.now()
    users = sorted({cmd.user_id for cmd in commands})
    snapshots = dict(zip(users, await snapshots_of(deps, users), strict=True))
    # A batch holds few users, meters and bodies, many times: each worked out once.
    allowances: dict[tuple[str, str, datetime], Allowance] = {}
    digests: dict[tuple[str, int, str | None, str | None], str] = {}

    def allowance_of(
        snapshot: dict[str, Any], user_id: str, meter_key: str, at: datetime, now: datetime
    ) -> Allowance:
        key = (user_id, meter_key, at)
        found = allowances.get(key)
        if found is None:
            found = allowances[key] = allowance(snapshot, user_id, meter_key, at, now)
        return found

    outcomes: list[Outcome | None] = [None] * len(commands)
    batched: list[Item] = []
    indexes: list[int] = []
    one_by_one: list[int] = []
    for index, cmd in enumerate(commands):
        await take_turn(index)  # a write in flight moves on (services/messaging/kafka.py)
        at = cmd.occurred_at.isoformat() if cmd.occurred_at else None  # as hashed
        body = (cmd.meter_key, cmd.quantity, at, cmd.value)
        digest = digests.get(body)
        if digest is None:
            digest = digests[body] = usage_digest(record_fingerprint(cmd))
        try:
            event, found = prepare(
                snapshots[cmd.user_id],
                cmd.user_id,
                cmd.meter_key,
                cmd.event_id,
                cmd.quantity,
                digest,
                cmd.occurred_at,
                cmd.value,
                now,
                allowance_of,
            )
        except DomainError as error:
            outcomes[index] = error
            continue
        if _batchable(found):
            batched.append(Item(event, found))
            indexes.append(index)
        else:
            one_by_one.append(index)
    return PlannedBatch(
        commands, tuple(outcomes), tuple(batched), tuple(indexes), tuple(one_by_one)
    )


async def count_usage_batch(deps: Deps, planned: PlannedBatch) -> list[Outcome]:
    """Each planned command's decision, or the business error that refused it. Safe to
    run again after a failure: what was counted is then a replay."""
    outcomes = list(planned.outcomes)
    one_by_one = list(planned.one_by_one)
    if planned.batched:
        # Optimistic: a batch sent again (all replays) costs one statement rolled back.
        counted = await count_together(deps, planned.batched, replays_likely=False)
        for index, result in zip(planned.indexes, counted, strict=True):
            if result.decision is None:  # a repeat: answered after the first is stored
                one_by_one.append(index)
            else:
                outcomes[index] = _checked(result.decision)
    for index in sorted(one_by_one):
        try:
            outcomes[index] = await record_usage(deps, planned.commands[index])
        except DomainError as error:
            outcomes[index] = error
    return [o for o in outcomes if o is not None]


async def record_usage_batch(deps: Deps, commands: Sequence[RecordUsage]) -> list[Outcome]:
    """Each command's decision, or the business error that refused it."""
    return await count_usage_batch(deps, await plan_usage_batch(deps, commands))


def _checked(decision: QuotaDecision | DomainError) -> Outcome:
    """A replayed refusal is the business error recording it was the first time."""
    if isinstance(decision, DomainError):
        return decision
    try:
        check_counted(decision)
    except DomainError as error:
        return error
    return decision


def refusal_reason(outcome: Outcome) -> str | None:
    """Why an outcome was refused, as a dead letter says it (None: counted)."""
    if isinstance(outcome, DomainError):
        return f"refused: {outcome.code.value}: {outcome.message}"
    return None
