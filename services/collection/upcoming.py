"""The next renewal's invoice, before it exists: what the subscription will be charged
at its period end (the price in force now, on the plan a scheduled downgrade chose) and
the usage so far past the included units, less the discount it carries and the credit
balance it would spend. Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.billing.rules import Line, LineKind
from services.credits.rules import credit_line
from services.discounts.redemption import discounted
from services.platform.deps import Deps
from services.pricing.customer_prices import override_of, renewal_price
from services.pricing.periods import next_period_end
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
    """None when nothing will renew (no subscription, free, cancelled at period end)."""
    async with deps.uow() as uow:
        row = await uow.subscriptions.current(user_id)
        if row is None or row.status not in RENEWING or row.cancel_at_period_end:
            return None
        period_start, anchor = row.current_period_end, row.billing_cycle_anchor
        if period_start is None or anchor is None or row.current_period_start is None:
            return None
        plan = row.pending_plan or row.plan
        found = await uow.plans.customer_prices([(user_id, plan.id)])
        price = renewal_price(row, plan, period_start, override_of(found.get((user_id, plan.id))))
        if price == 0:
            return None
        period_end = next_period_end(anchor, period_start, plan.interval, plan.interval_count)
        lines = [
            Line(
                LineKind.SUBSCRIPTION,
                plan.name,
                price,
                plan.code,
                period_start,
                period_end,
            )
        ]
        overages = await uow.usage.overages([(user_id, row.plan_id, row.current_period_start)])
        lines += renewal_usage_lines(row, period_start, overages)
        lines = list(discounted(await uow.discounts.discount(row.id), tuple(lines)))
        balance = await uow.credits.balance(user_id)
        if balance is not None and balance.currency == row.currency:
            credit = credit_line(balance.balance_cents, tuple(lines))
            lines += [credit] if credit else []
    total = sum(line.amount_cents for line in lines)
    return UpcomingInvoice(plan.currency, total, period_start, tuple(lines))
