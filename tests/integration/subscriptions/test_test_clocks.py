"""Test clocks per customer: a clock moves only its own customers, the real-time
scheduler leaves them alone, deleting a clock removes every row of its customers and
nothing else, and a simulation equals what the clock then charges."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from services.clocks import advance, control
from services.collection import scheduler, upcoming
from services.common.errors import DomainError, ErrorCode
from services.credits import ledger
from services.discounts import coupons
from services.discounts.rules import Duration
from services.platform.deps import Deps
from services.pricing import catalog
from services.pricing.rules import ExistingSubscribers
from services.reads import queries
from services.subscriptions import checkout
from services.subscriptions.lifecycle import Status
from tests.conftest import scalar
from tests.integration.billing.test_simulation import _invoices

DAY = timedelta(days=1)
# Every table that holds a customer's rows, with the column naming the customer.
CUSTOMER_TABLES = (
    ("subscriptions", "user_id"),
    ("subscription_history", "user_id"),
    ("invoices", "user_id"),
    ("payments", "owner_id"),
    ("payment_methods", "user_id"),
    ("payment_customers", "user_id"),
    ("credit_ledger", "user_id"),
    ("credit_balances", "user_id"),
    ("subscription_discounts", "user_id"),
    ("outbox", "key"),
    ("test_clock_customers", "user_id"),
)


@pytest.fixture
def clocked(deps: Deps) -> Deps:
    return dataclasses.replace(deps, settings=deps.settings.model_copy(update={"test_clock": True}))


async def subscribe(deps: Deps, user: str, plan: str = "premium") -> None:
    own = await control.deps_for(deps, user)
    await checkout.subscribe(own, checkout.Subscribe(user, plan, "pm_card_visa"))


async def status(deps: Deps, user: str) -> Status | None:
    view = await queries.subscription_of(deps, user)
    return None if view is None else view.status


async def rows_of(deps: Deps, user: str) -> dict[str, int]:
    counts = {}
    for table, column in CUSTOMER_TABLES:
        sql = f"SELECT count(*) FROM {table} WHERE {column} = :user"
        counts[table] = int(await scalar(deps, sql, user=user))  # type: ignore[arg-type]
    return {table: n for table, n in counts.items() if n}


async def test_two_clocks_move_their_own_customers_only(clocked, clock):
    start = clock.now()
    first = await control.create(clocked, "first", start)
    second = await control.create(clocked, "second", start + 2 * DAY)
    await control.attach(clocked, "ann", str(first.id))
    await control.attach(clocked, "ben", str(second.id))
    await subscribe(clocked, "ann")
    await subscribe(clocked, "ben")
    await subscribe(clocked, "cy")  # on real time
    ben = await queries.subscription_of(clocked, "ben")
    assert ben is not None and ben.trial_start == start + 2 * DAY  # his clock's time

    ann_moved = await advance.advance(clocked, str(first.id), start + 15 * DAY)
    ben_moved = await advance.advance(clocked, str(second.id), start + 50 * DAY)
    assert (ann_moved.now, ann_moved.applied) == (start + 15 * DAY, 2)  # reminder, conversion
    assert ben_moved.applied == 3 and ben_moved.customers == ["ben"]  # and a renewal
    assert await status(clocked, "ann") is Status.ACTIVE
    assert await status(clocked, "ben") is Status.ACTIVE
    assert await status(clocked, "cy") is Status.TRIALING  # real time did not move
    paid = "SELECT count(*) FROM payments WHERE owner_id = :user"
    assert [await scalar(clocked, paid, user=u) for u in ("ann", "ben", "cy")] == [1, 2, 0]
    converted = await scalar(
        clocked,
        "SELECT occurred_at FROM subscription_history WHERE user_id = 'ann'"
        " AND reason = 'trial_converted'",
    )
    assert converted == start + 14 * DAY  # written at the clock's moment

    clock.advance(100 * DAY)  # real time passes every clocked customer's due dates
    await scheduler.run_due_work(clocked)
    assert await status(clocked, "cy") is Status.ACTIVE
    assert [await scalar(clocked, paid, user=u) for u in ("ann", "ben", "cy")] == [1, 2, 3]
    listed = await control.views(clocked)
    assert [(c.name, c.now, c.status.value) for c in listed] == [
        ("first", start + 15 * DAY, "READY"),
        ("second", start + 50 * DAY, "READY"),
    ]


async def test_deleting_a_clock_removes_its_customers_rows_and_nothing_else(clocked, clock):
    doomed = await control.create(clocked, "doomed", clock.now())
    await control.attach(clocked, "dee", str(doomed.id))
    await subscribe(clocked, "dee")
    await ledger.adjust_credit(clocked, "root", ledger.AdjustCredit("dee", 300, "USD", "test"))
    await subscribe(clocked, "eve")
    await advance.advance(clocked, str(doomed.id), clock.now() + 80 * DAY)
    dee_before = await rows_of(clocked, "dee")
    assert {"payments", "invoices", "credit_ledger", "outbox"} <= set(dee_before)
    eve_before = await rows_of(clocked, "eve")

    removed = await control.delete(clocked, str(doomed.id))
    assert removed.customers == ["dee"]
    assert await rows_of(clocked, "dee") == {}
    assert await rows_of(clocked, "eve") == eve_before
    assert await control.views(clocked) == []
    retired = await scalar(clocked, "SELECT count(*) FROM retired_numbers")
    assert retired == dee_before["invoices"]  # the audit (at teardown) counts them issued
    with pytest.raises(DomainError) as gone:
        await control.delete(clocked, str(doomed.id))
    assert gone.value.code is ErrorCode.NOT_FOUND


async def test_attaching_is_refused_after_the_first_subscription_or_a_second_time(clocked):
    one = await control.create(clocked, "one", clocked.clock.now())
    await subscribe(clocked, "fay")
    with pytest.raises(DomainError) as late:
        await control.attach(clocked, "fay", str(one.id))
    assert late.value.code is ErrorCode.INVALID_TRANSITION
    await control.attach(clocked, "gus", str(one.id))
    with pytest.raises(DomainError) as twice:
        await control.attach(clocked, "gus", str(one.id))
    assert twice.value.code is ErrorCode.INVALID_TRANSITION
    async with clocked.uow() as uow:  # as a process that died mid-advance leaves it
        await uow.clocks.move(one.id, one.now, one.now + timedelta(days=3))
        await uow.commit()
    with pytest.raises(DomainError) as busy:
        await control.delete(clocked, str(one.id))
    assert busy.value.code is ErrorCode.INVALID_TRANSITION
    await advance.resume(clocked)  # the worker's round finishes it
    assert (await control.view(clocked, one.id)).status.value == "READY"
    with pytest.raises(DomainError) as backwards:
        await advance.advance(clocked, str(one.id), clocked.clock.now() + timedelta(days=2))
    assert (backwards.value.code, backwards.value.field) == (ErrorCode.INVALID_INPUT, "to")
    assert await control.views(clocked) == [await control.view(clocked, one.id)]


async def test_test_clocks_are_refused_when_the_service_runs_on_real_time(deps):
    with pytest.raises(DomainError) as off:
        await control.create(deps, "nope", deps.clock.now())
    assert off.value.code is ErrorCode.TEST_CLOCK_DISABLED
    assert await scalar(deps, "SELECT count(*) FROM test_clocks") == 0


async def test_the_simulation_is_what_the_customers_clock_then_charges(clocked, clock):
    """Issue 29's check, on a clock of the customer's own (frozen 3 days after the
    service's time): a repeating coupon, credit on the balance and a price change."""
    own = await control.create(clocked, "sim", clock.now() + 3 * DAY)
    await control.attach(clocked, "sim", str(own.id))
    await coupons.create_coupon(
        clocked,
        coupons.CreateCoupon(
            "Q25", "a quarter off, twice", Duration.REPEATING, percent_off=25, duration_in_cycles=2
        ),
    )
    await coupons.create_promotion_code(clocked, coupons.CreatePromotionCode("Q25", "QUARTER"))
    await subscribe(clocked, "sim")
    sim = await control.deps_for(clocked, "sim")
    await checkout.apply_promotion_code(sim, "sim", "QUARTER")
    await ledger.adjust_credit(sim, "root", ledger.AdjustCredit("sim", 900, "USD", "goodwill"))
    view = await queries.subscription_of(sim, "sim")
    assert view is not None and view.trial_end == clock.now() + 17 * DAY
    move_at = view.trial_end + 40 * DAY
    await catalog.set_plan_price(
        sim,
        "root",
        catalog.SetPlanPrice(
            "premium",
            1299,
            "USD",
            existing_subscribers=ExistingSubscribers.MOVE_AT,
            move_at=move_at,
        ),
    )
    simulated = await upcoming.simulate_invoices(sim, "sim", 4)
    assert [invoice.total_cents for invoice in simulated] == [0, 598, 1299, 1299]
    await advance.advance(clocked, str(own.id), simulated[-1].due_at)
    assert await _invoices(clocked, "sim") == [
        (
            invoice.due_at.isoformat()[:19],
            invoice.total_cents,
            [(line.kind.value, line.amount_cents) for line in invoice.lines],
        )
        for invoice in simulated
    ]
