"""Creating, listing, attaching and deleting test clocks, and the time a clocked
customer's requests run at.

A clock stands still at its `now` until advanced (as Stripe's do): a customer attached
to it sees that moment in every time-dependent decision their requests make, while the
scheduler at real time leaves them to their clock's advance."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from models import TestClock
from services.common.errors import DomainError, ErrorCode
from services.common.text import check_text
from services.platform.auth import check_user_id
from services.platform.clock import FrozenClock
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork


class ClockStatus(StrEnum):
    READY = "READY"
    ADVANCING = "ADVANCING"  # an advance is running its due work


ADVANCING, READY = ClockStatus.ADVANCING, ClockStatus.READY


@dataclass(frozen=True)
class TestClockView:
    id: uuid.UUID
    name: str
    now: datetime
    status: ClockStatus
    customers: list[str]
    applied: int = 0  # subscriptions acted on by the advance that answered this


def clock_id_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise DomainError(ErrorCode.NOT_FOUND, "no such test clock", "testClockId") from None


def enabled(deps: Deps) -> None:
    if not deps.settings.test_clock:
        raise DomainError(
            ErrorCode.TEST_CLOCK_DISABLED, "test clocks are off: start with TEST_CLOCK=1"
        )


async def create(deps: Deps, name: str, frozen_at: datetime) -> TestClockView:
    enabled(deps)
    name = check_text(name, "name", 255, required=True)
    if frozen_at.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "frozenAt needs a time zone", "frozenAt")
    clock = TestClock(id=uuid.uuid4(), name=name, now=frozen_at, status=READY)
    async with deps.uow() as uow:
        uow.clocks.add(clock)
        await uow.commit()
    return TestClockView(clock.id, name, frozen_at, READY, [])


async def views(deps: Deps) -> list[TestClockView]:
    """Every clock, oldest first, with its customers."""
    enabled(deps)
    async with deps.uow() as uow:
        clocks = await uow.clocks.all()
        customers = await uow.clocks.customers([clock.id for clock in clocks])
    return [_view(c, customers[c.id]) for c in clocks]


async def view(deps: Deps, clock_id: uuid.UUID, applied: int = 0) -> TestClockView:
    enabled(deps)
    async with deps.uow() as uow:
        clock = await _require(uow, clock_id)
        customers = await uow.clocks.customers([clock_id])
    return _view(clock, customers[clock_id], applied)


def _view(clock: TestClock, customers: list[str], applied: int = 0) -> TestClockView:
    status = ClockStatus(clock.status)
    return TestClockView(clock.id, clock.name, clock.now, status, customers, applied)


async def _require(uow: UnitOfWork, clock_id: uuid.UUID, *, lock: bool = False) -> TestClock:
    clock = await uow.clocks.get(clock_id, lock=lock)
    if clock is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no such test clock", "testClockId")
    return clock


async def attach(deps: Deps, user_id: str, test_clock_id: str) -> TestClockView:
    """Put a customer on a clock, before their first subscription: their history until
    then was written at real time, which a clock cannot take back."""
    enabled(deps)
    clock_id = clock_id_of(test_clock_id)
    check_user_id(user_id)
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(user_id)  # against a subscribe meanwhile
        await _require(uow, clock_id, lock=True)
        if await uow.clocks.clock_of(user_id) is not None:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION, "the customer is on a test clock already", "userId"
            )
        if await uow.clocks.has_subscribed(user_id):
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                "attach a test clock before the customer's first subscription",
                "userId",
            )
        await uow.clocks.attach(user_id, clock_id)
        await uow.commit()
    return await view(deps, clock_id)


async def delete(deps: Deps, test_clock_id: str) -> TestClockView:
    """Remove the clock and every row of its customers (subscriptions, invoices,
    payments, credit, usage, their events), nothing else; answers what was removed."""
    enabled(deps)
    clock_id = clock_id_of(test_clock_id)
    async with deps.uow() as uow:
        # Its customers read under the clock's lock, which an attach takes too.
        clock = await _require(uow, clock_id, lock=True)
        if clock.status == ADVANCING:  # its step in flight writes rows of its customers
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                "the clock is advancing: delete it once it is READY",
                "testClockId",
            )
        removed = _view(clock, (await uow.clocks.customers([clock_id]))[clock_id])
        await uow.clocks.delete(clock_id, removed.customers, deps.clock.now())
        await uow.commit()
    if deps.cache is not None:
        await deps.cache.invalidate(removed.customers)
    return removed


async def deps_for(deps: Deps, user_id: str | None) -> Deps:
    """`deps` at the user's clock's time if they are on one (test clocks on only)."""
    if not deps.settings.test_clock or user_id is None:
        return deps
    async with deps.uow() as uow:
        clock = await uow.clocks.clock_of(user_id)
    return deps if clock is None else deps.at(FrozenClock(clock.now))
