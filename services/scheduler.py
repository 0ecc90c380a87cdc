"""Due lifecycle work, applied in batches claimed with FOR UPDATE SKIP LOCKED so any
number of workers can share it without doing anything twice."""

from __future__ import annotations

from services import lifecycle
from services.deps import Deps
from services.store.subscriptions import state_of
from services.transitions import apply_transition

SCHEDULER_ACTOR = "system:scheduler"


async def expire_due(deps: Deps, batch_size: int = 200) -> int:
    """Expire one batch: cancelled periods that ended, grace periods that ran out.
    Returns how many subscriptions it expired (0 when nothing is due)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        rows = await uow.subscriptions.claim_due_expirations(now, batch_size)
        if not rows:
            return 0
        free_plan = await uow.plans.free_plan()
        for row in rows:
            plans = {row.plan.code: row.plan}
            if row.pending_plan is not None:
                plans[row.pending_plan.code] = row.pending_plan
            transition = lifecycle.expire(state_of(row), now)
            apply_transition(
                uow, row, transition, plans, free_plan=free_plan, actor=SCHEDULER_ACTOR, now=now
            )
        await uow.commit()
        return len(rows)


async def run_due_work(deps: Deps, batch_size: int = 200) -> int:
    """Drain everything due now; returns the number of subscriptions changed."""
    total = 0
    while True:
        done = await expire_due(deps, batch_size)
        total += done
        if done < batch_size:
            return total
