"""The test clock (TEST_CLOCK=1, never in production): admins move the service's time
forward and watch trials convert, renewals fail, grace run out, as with Stripe's test
clocks. Advancing stops at every moment something falls due, so history and invoices
carry the times they would have had.

The offset is kept in the database: a restarted process (or a separate worker) picks
up the time the rows were written at instead of going back to today."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.collection.scheduler import run_due_work
from services.common.errors import DomainError, ErrorCode
from services.platform.clock import FrozenClock, OffsetClock
from services.platform.deps import Deps
from services.store.operations import DueScope

MAX_ADVANCE = timedelta(days=3 * 366)


class AdjustableClock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> datetime: ...


@dataclass(frozen=True)
class TestClockView:
    now: datetime
    applied: int  # subscriptions acted on while advancing


def _clock(deps: Deps) -> AdjustableClock:
    clock = deps.clock
    if not deps.settings.test_clock or not hasattr(clock, "advance"):
        raise DomainError(
            ErrorCode.TEST_CLOCK_DISABLED, "the test clock is off: start with TEST_CLOCK=1"
        )
    return clock  # type: ignore[return-value]


def read(deps: Deps) -> TestClockView:
    return TestClockView(_clock(deps).now(), 0)


async def advance(deps: Deps, seconds: int) -> TestClockView:
    clock = _clock(deps)
    if seconds <= 0 or timedelta(seconds=seconds) > MAX_ADVANCE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "seconds must be positive and at most 3 years", "seconds"
        )
    start = clock.now()

    async def moved(to: datetime) -> None:
        clock.advance(to - clock.now())

    scope = DueScope(deps.settings.test_clock)  # everyone not on a clock of their own
    applied = await step_through(deps, scope, start, start + timedelta(seconds=seconds), moved)
    await _save_offset(deps)
    return TestClockView(clock.now(), applied)


async def step_through(
    deps: Deps,
    scope: DueScope,
    now: datetime,
    target: datetime,
    moved: Callable[[datetime], Awaitable[None]],
) -> int:
    """Run `scope`'s due work at each moment it falls due from `now` up to `target`, in
    order, telling `moved` of each new moment before its work; returns how many
    subscriptions were acted on. (The service's clock and the clocks per customer.)"""
    applied, ran_at = 0, None
    while True:
        async with deps.uow() as uow:
            # Work stuck at `now` (a charge still processing) must not hold the clock.
            due = await uow.subscriptions.next_due_at(scope, now if ran_at == now else None)
        step_to = target if due is None or due >= target else max(due, now)
        if step_to != now:
            await moved(step_to)
            now = step_to
        applied += await run_due_work(deps.at(FrozenClock(now)), scope=scope)
        ran_at = now
        if now >= target:
            return applied


async def restore_offset(deps: Deps) -> None:
    """Take up the saved offset (at start, and before each worker round); the clock
    only ever moves forward."""
    clock = deps.clock
    if not deps.settings.test_clock or not isinstance(clock, OffsetClock):
        return
    async with deps.uow() as uow:
        saved = await uow.operations.clock_offset()
    if saved is not None and saved > clock.offset:
        clock.offset = saved


async def _save_offset(deps: Deps) -> None:
    if isinstance(deps.clock, OffsetClock):
        async with deps.uow() as uow:
            await uow.operations.save_clock_offset(deps.clock.offset)
            await uow.commit()
