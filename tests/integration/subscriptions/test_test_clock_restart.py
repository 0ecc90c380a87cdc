"""`kill -9` of the process advancing a test clock, then a restart: the new worker takes
the advance up where it stopped and every due charge is made once."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from services.clocks import control
from services.pricing.periods import Interval, next_period_end
from services.subscriptions import checkout
from tests.conftest import scalar
from tests.integration.webhooks.test_worker_killed import start_worker, until

DAY = timedelta(days=1)
CUSTOMERS = 12
YEARS = 2


def charges_due(start: datetime, until_moment: datetime) -> int:
    """The conversion after the 14-day trial, then a monthly renewal per period end."""
    anchor = period_end = start + 14 * DAY
    charges = 0
    while period_end <= until_moment:
        charges += 1
        period_end = next_period_end(anchor, period_end, Interval.MONTH, 1)
    return charges


async def clock_now(deps, clock_id) -> datetime:  # type: ignore[no-untyped-def]
    moment = await scalar(deps, "SELECT now FROM test_clocks WHERE id = :id", id=clock_id)
    assert isinstance(moment, datetime)
    return moment


async def test_a_killed_advance_resumes_and_charges_each_renewal_once(deps, settings, clock):
    assert settings.database_url
    clocked = dataclasses.replace(deps, settings=settings.model_copy(update={"test_clock": True}))
    start = clock.now()
    made = await control.create(clocked, "restart", start)
    starts = {}
    for n in range(CUSTOMERS):  # subscribed on different days: more moments to stop at
        user = f"kill-{n}"
        await control.attach(clocked, user, str(made.id))
        async with deps.uow() as uow:
            await uow.clocks.move(made.id, start + n * DAY, None)
            await uow.commit()
        own = await control.deps_for(clocked, user)
        await checkout.subscribe(own, checkout.Subscribe(user, "premium", "pm_card_visa"))
        starts[user] = start + n * DAY
    target = start + YEARS * 365 * DAY
    async with deps.uow() as uow:  # as an API process does before its first step
        await uow.clocks.move(made.id, start + (CUSTOMERS - 1) * DAY, target)
        await uow.commit()
    halfway = start + YEARS * 365 * DAY / 3
    worker_env = {"TEST_CLOCK": "1"}
    first = start_worker(settings.database_url, worker_env)
    try:
        moved = await until(lambda: _past(deps, made.id, halfway), 120)
    finally:
        first.kill()  # SIGKILL, mid-advance
        first.wait(timeout=10)
    assert moved, "the worker never took the advance up"
    stopped_at = await clock_now(deps, made.id)
    assert stopped_at < target, "the advance finished before the kill; nothing was tested"
    assert await scalar(deps, "SELECT status FROM test_clocks") == "ADVANCING"

    second = start_worker(settings.database_url, worker_env)
    try:
        finished = await until(
            lambda: scalar(deps, "SELECT status = 'READY' FROM test_clocks"), 180
        )
    finally:
        second.terminate()
        second.wait(timeout=20)
    assert finished, "the restarted worker did not finish the advance"
    assert await clock_now(deps, made.id) == target
    charged = await scalar(
        deps,
        "SELECT json_object_agg(owner_id, n) FROM (SELECT owner_id, count(*) AS n"
        " FROM payments WHERE status_literal = 'success' GROUP BY owner_id) p",
    )
    assert charged == {user: charges_due(at, target) for user, at in starts.items()}
    twice = await scalar(
        deps,
        "SELECT count(*) FROM (SELECT 1 FROM payments"
        " GROUP BY order_id, period_start, attempt HAVING count(*) > 1) d",
    )
    assert twice == 0


async def _past(deps, clock_id, moment: datetime) -> bool:  # type: ignore[no-untyped-def]
    return await clock_now(deps, clock_id) > moment
