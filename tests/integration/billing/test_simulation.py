"""The simulation of a customer's next invoices equals what the clock then produces,
line by line: a trial's conversion first, a repeating coupon while it lasts, credit on
the balance spent, and a price change scheduled in the middle; and it writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.collection import scheduler, upcoming
from services.common.errors import DomainError, ErrorCode
from services.credits import ledger
from services.discounts import coupons
from services.discounts.rules import Duration
from services.pricing import catalog
from services.pricing.rules import ExistingSubscribers
from services.reads import queries
from services.subscriptions import checkout
from tests.conftest import scalar

CYCLES = 4


async def _invoices(deps, user: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    found = await scalar(
        deps,
        "SELECT json_agg(json_build_object('at', i.period_start, 'total', i.total_cents,"
        " 'lines', (SELECT json_agg(json_build_array(l.kind, l.amount_cents)"
        " ORDER BY l.position) FROM invoice_lines l WHERE l.invoice_id = i.id))"
        " ORDER BY i.period_start) FROM invoices i WHERE i.user_id = :u",
        u=user,
    )
    return [
        (row["at"][:19], row["total"], [tuple(line) for line in row["lines"]])
        for row in found or []  # type: ignore[union-attr]
    ]


async def test_the_simulation_is_what_the_clock_then_charges(deps, clock):
    await coupons.create_coupon(
        deps,
        coupons.CreateCoupon(
            "Q25", "a quarter off, twice", Duration.REPEATING, percent_off=25, duration_in_cycles=2
        ),
    )
    await coupons.create_promotion_code(deps, coupons.CreatePromotionCode("Q25", "QUARTER"))
    await checkout.subscribe(deps, checkout.Subscribe("sim", "premium", "pm_card_visa"))
    await checkout.apply_promotion_code(deps, "sim", "QUARTER")
    await ledger.adjust_credit(deps, "root", ledger.AdjustCredit("sim", 900, "USD", "goodwill"))
    view = await queries.subscription_of(deps, "sim")
    assert view is not None and view.trial_end is not None
    await catalog.set_plan_price(
        deps,
        "root",
        catalog.SetPlanPrice(
            "premium",
            1299,
            "USD",
            existing_subscribers=ExistingSubscribers.MOVE_AT,
            move_at=view.trial_end + timedelta(days=40),
        ),
    )
    before = await scalar(deps, "SELECT count(*) FROM outbox")
    simulated = await upcoming.simulate_invoices(deps, "sim", CYCLES)
    assert await scalar(deps, "SELECT count(*) FROM outbox") == before  # nothing written
    expected = [
        (
            invoice.due_at.isoformat()[:19],
            invoice.total_cents,
            [(line.kind.value, line.amount_cents) for line in invoice.lines],
        )
        for invoice in simulated
    ]
    # By hand: 999 - 250 (25%, half up) - 749 credit (of 900); 999 - 250 - 151 credit;
    # then the moved price, 1299, with no discount and no credit left.
    assert [total for _, total, _ in expected] == [0, 598, 1299, 1299]
    for _ in range(CYCLES):
        current = await queries.subscription_of(deps, "sim")
        assert current is not None and current.current_period_end is not None
        clock.moment = current.current_period_end
        await scheduler.run_due_work(deps)
    assert await _invoices(deps, "sim") == expected


async def test_simulating_a_subscription_before_it_exists(deps):
    await coupons.create_coupon(
        deps,
        coupons.CreateCoupon(
            "ONCE5", "5 off once", Duration.ONCE, amount_off_cents=500, currency="USD"
        ),
    )
    await coupons.create_promotion_code(deps, coupons.CreatePromotionCode("ONCE5", "FIVE"))
    first = await upcoming.simulate_subscribe(deps, "new", "premium", "FIVE", 3)
    assert [i.total_cents for i in first] == [499, 999, 999]
    assert first[0].due_at == deps.clock.now() + timedelta(days=14)  # after the trial
    with pytest.raises(DomainError) as bad:
        await upcoming.simulate_subscribe(deps, "new", "premium", "NOPE", 3)
    assert bad.value.code is ErrorCode.PROMOTION_CODE_INVALID
    with pytest.raises(DomainError) as many:
        await upcoming.simulate_invoices(deps, "new", 25)
    assert many.value.code is ErrorCode.INVALID_INPUT and many.value.field == "cycles"
    assert await scalar(deps, "SELECT count(*) FROM subscriptions") == 0
