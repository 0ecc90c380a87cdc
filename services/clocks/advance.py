"""Advancing one test clock: its customers' due work runs at each moment it falls due,
in order, up to the target; nobody else's time moves.

The target is stored before the first step and the clock's `now` before each step's
work, so a process that dies mid-advance leaves a clock marked ADVANCING that the
worker (or the next advance call) takes up where it stopped. Each step's work is the
scheduler's, which claims rows under lock and moves them past their due moment in the
same transaction as their charge, so a rerun of a step does nothing twice. One process
advances a clock at a time: it holds a PostgreSQL advisory lock for it, which a killed
process's connection gives back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import text

from services.clocks.control import ADVANCING, TestClockView, clock_id_of, enabled, view
from services.collection.test_clock import MAX_ADVANCE, step_through
from services.common.errors import DomainError, ErrorCode
from services.platform.deps import Deps
from services.store.operations import DueScope

WAIT_FOR_OTHER = 0.2  # seconds between looks at a clock another process advances


async def advance(deps: Deps, test_clock_id: str, to: datetime) -> TestClockView:
    """Move the clock to `to`, running everything due for its customers on the way;
    answers when done."""
    enabled(deps)
    clock_id = clock_id_of(test_clock_id)
    async with deps.uow() as uow:
        clock = await uow.clocks.get(clock_id, lock=True)
        if clock is None:
            raise DomainError(ErrorCode.NOT_FOUND, "no such test clock", "testClockId")
        if clock.status == ADVANCING:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, "the clock is advancing already", "testClockId"
            )
        if to.tzinfo is None or not clock.now < to <= clock.now + MAX_ADVANCE:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "to must be later than the clock's now, by at most 3 years",
                "to",
            )
        await uow.clocks.move(clock_id, clock.now, to)
        await uow.commit()
    applied = await run(deps, clock_id, wait=True)
    return await view(deps, clock_id, applied)


async def resume(deps: Deps) -> int:
    """Finish the advances a dead process left (worker rounds); returns the work done."""
    if not deps.settings.test_clock:
        return 0
    async with deps.uow() as uow:
        left = await uow.clocks.advancing()
    return sum([await run(deps, clock_id, wait=False) for clock_id in left])


async def run(deps: Deps, clock_id: uuid.UUID, *, wait: bool) -> int:
    """Step the clock to its target unless another process is at it (then, with `wait`,
    until that one finishes); returns how many subscriptions were acted on."""
    key = f"test_clock:{clock_id}"
    async with deps.session_factory() as session:
        lock = text("SELECT pg_try_advisory_lock(hashtext(:key))")
        while not await session.scalar(lock, {"key": key}):
            await session.commit()  # no snapshot held while waiting
            if not wait:
                return 0
            await asyncio.sleep(WAIT_FOR_OTHER)
        try:
            await session.commit()
            return await _steps(deps, clock_id)
        finally:
            await session.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": key})
            await session.commit()


async def _steps(deps: Deps, clock_id: uuid.UUID) -> int:
    """Under the clock's advisory lock: nobody else moves or deletes it meanwhile."""
    async with deps.uow() as uow:
        clock = await uow.clocks.get(clock_id)
    if clock is None or clock.advancing_to is None:
        return 0  # finished by another process before this one took the lock
    target = clock.advancing_to

    async def moved(to: datetime) -> None:  # stored before the step's work: a restart resumes
        async with deps.uow() as uow:
            await uow.clocks.move(clock_id, to, target)
            await uow.commit()

    scope = DueScope(clocks_on=True, clock_id=clock_id)
    applied = await step_through(deps, scope, clock.now, target, moved)
    async with deps.uow() as uow:
        await uow.clocks.move(clock_id, target, None)
        await uow.commit()
    return applied
