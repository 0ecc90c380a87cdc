"""The next invoices before they exist: what the subscription will be charged at each
period end (its own price, a scheduled change once due, a customer price while it
lasts, on the plan a scheduled downgrade chose), the usage so far past the included
units on the first, less the discount while it lasts and the credit balance it would
spend. The next renewal's invoice (`upcomingInvoice`) is the first. Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.billing.rules import Line, LineKind
from services.common.errors import DomainError, ErrorCode
from services.credits.rules import credit_line
from services.discounts.coupons import terms_of
from services.discounts.redemption import usable_code
from services.discounts.rules import CouponTerms, discount_line
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.pricing.catalog import require_plan
from services.pricing.customer_prices import customer_price, override_of, renewal_price
from services.pricing.periods import next_period_end
from services.pricing.rules import PlanKind
from services.subscriptions.lifecycle import Status
from services.usage.metering import renewal_usage_lines

RENEWING = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)


@dataclass(frozen=True)
class UpcomingInvoice:
    currency: str
    total_cents: int
    due_at: datetime
    lines: tuple[Line, ...]


async def upcoming_invoice(deps: Deps, user_id: str) -> UpcomingInvoice | None:
    """The first invoice of the simulation below; None when nothing will renew (no
    subscription, free, cancelled at period end)."""
    found = await simulate_invoices(deps, user_id, 1)
    if not found:
        return None
    first = found[0]
    return UpcomingInvoice(first.currency, first.total_cents, first.due_at, first.lines)


# --- simulation: the next invoices, by the renewal's own rules, writing nothing ----------

MAX_CYCLES = 24


@dataclass(frozen=True)
class SimulatedInvoice:
    due_at: datetime
    currency: str
    total_cents: int
    lines: tuple[Line, ...]


@dataclass
class _Running:
    """What changes from one simulated invoice to the next."""

    discount: CouponTerms | None
    cycles_left: int | None  # None: forever
    balance_cents: int


def _check_cycles(cycles: int) -> int:
    if not 1 <= cycles <= MAX_CYCLES:
        raise DomainError(ErrorCode.INVALID_INPUT, f"cycles must be 1 to {MAX_CYCLES}", "cycles")
    return cycles


def _invoice(
    due_at: datetime, currency: str, lines: list[Line], running: _Running
) -> SimulatedInvoice:
    """Discount while it lasts (a cycle used when it applies), then the balance."""
    if running.discount is not None and running.cycles_left != 0:
        found = discount_line(running.discount, tuple(lines))
        if found is not None:
            lines.append(found)
            if running.cycles_left is not None:
                running.cycles_left -= 1
    credit = credit_line(running.balance_cents, tuple(lines))
    if credit is not None:
        lines.append(credit)
        running.balance_cents += credit.amount_cents
    return SimulatedInvoice(due_at, currency, sum(x.amount_cents for x in lines), tuple(lines))


async def simulate_invoices(deps: Deps, user_id: str, cycles: int) -> list[SimulatedInvoice]:
    """The subscription's next `cycles` invoices (a trial's conversion first): its own
    price and scheduled change, a customer price while it lasts, the discount while it
    lasts, the credit balance spent, this period's usage so far and none after."""
    check_user_id(user_id)
    _check_cycles(cycles)
    async with deps.uow() as uow:
        row = await uow.subscriptions.current(user_id)
        if row is None or row.status not in RENEWING or row.cancel_at_period_end:
            return []
        start, anchor = row.current_period_end, row.billing_cycle_anchor
        if start is None or anchor is None or row.current_period_start is None:
            return []
        plan = row.pending_plan or row.plan
        found = await uow.plans.customer_prices([(user_id, plan.id)])
        override = override_of(found.get((user_id, plan.id)))
        discount = await uow.discounts.discount(row.id)
        balance = await uow.credits.balance(user_id)
        overages = await uow.usage.overages([(user_id, row.plan_id, row.current_period_start)])
        running = _Running(
            terms_of(discount.coupon) if discount is not None else None,
            discount.cycles_left if discount is not None else None,
            balance.balance_cents if balance and balance.currency == row.currency else 0,
        )
        invoices = []
        for cycle in range(cycles):
            end = next_period_end(anchor, start, plan.interval, plan.interval_count)
            price = renewal_price(row, plan, start, override)
            lines = [Line(LineKind.SUBSCRIPTION, plan.name, price, plan.code, start, end)]
            if cycle == 0:
                lines += renewal_usage_lines(row, start, overages)
            if price or len(lines) > 1:
                invoices.append(_invoice(start, plan.currency, lines, running))
            start = end
        return invoices


async def simulate_subscribe(
    deps: Deps, user_id: str, plan_code: str, promotion_code: str | None, cycles: int
) -> list[SimulatedInvoice]:
    """What subscribing to the plan now would charge over the first `cycles` invoices:
    the trial's conversion first when the user may still have one, the code's discount
    while it lasts (refused as checkout would refuse it), the credit balance spent."""
    check_user_id(user_id)
    _check_cycles(cycles)
    now = deps.clock.now()
    async with deps.uow() as uow:
        plan = await require_plan(uow, plan_code, purchasable=True, kind=PlanKind.SUBSCRIPTION)
        coupon = None
        if promotion_code:
            coupon = (await usable_code(uow, promotion_code, user_id, plan, now)).coupon
        trial = plan.trial_days > 0 and not await uow.subscriptions.had_trial(user_id)
        balance = await uow.credits.balance(user_id)
        terms = terms_of(coupon) if coupon is not None else None
        running = _Running(
            terms,
            terms.first_cycles() if terms is not None else None,
            balance.balance_cents if balance and balance.currency == plan.currency else 0,
        )
        anchor = start = now + timedelta(days=plan.trial_days) if trial else now
        invoices = []
        for _ in range(cycles):
            end = next_period_end(anchor, start, plan.interval, plan.interval_count)
            price = await customer_price(uow, user_id, plan, start)
            lines = [Line(LineKind.SUBSCRIPTION, plan.name, price, plan.code, start, end)]
            invoices.append(_invoice(start, plan.currency, lines, running))
            start = end
        return invoices
