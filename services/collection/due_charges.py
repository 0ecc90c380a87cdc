"""What a scheduler batch must charge: trial conversions and renewals at the price in
force, on the plan a scheduled downgrade chose, with their discount, credit and usage
lines; retries of open invoices; the last period's overage of subscriptions that end;
and the open invoices closed with them. Nothing here calls the gateway or writes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from models import (
    CreditBalance,
    Invoice,
    PaymentMethod,
    Plan,
    Subscription,
    SubscriptionDiscount,
)
from services.billing.payments import ChargeSpec
from services.billing.rules import Line, LineKind, PaymentPurpose
from services.credits.rules import credit_line
from services.discounts.redemption import discounted
from services.gateway.base import ChargeResult, idempotency_key
from services.platform.uow import UnitOfWork
from services.pricing.customer_prices import override_of, renewal_price
from services.pricing.periods import next_period_end
from services.store.subscriptions import state_of
from services.store.usage.repository import Overage
from services.subscriptions import due
from services.subscriptions.due import DueWork
from services.subscriptions.lifecycle import Status, SubscriptionState
from services.usage.metering import renewal_usage_lines


@dataclass
class Collection:
    """A charge the batch will make for one subscription."""

    row: Subscription
    state: SubscriptionState
    plan: Plan
    spec: ChargeSpec
    discount: SubscriptionDiscount | None = None  # a cycle is used when the invoice is built
    credit: CreditBalance | None = None  # spent on the invoice when it is built
    result: ChargeResult | None = None
    error: str | None = None  # why the gateway took no charge


@dataclass
class BatchPlan:
    collections: dict[uuid.UUID, Collection] = field(default_factory=dict)
    closing: dict[uuid.UUID, list[Invoice]] = field(default_factory=dict)  # open invoices
    awaiting: set[uuid.UUID] = field(default_factory=set)  # a charge is still processing


async def plan_batch(uow: UnitOfWork, rows: Sequence[Subscription], now: datetime) -> BatchPlan:
    """The charges this batch must make (trial conversions and renewals at the price in
    force now, on the plan a scheduled downgrade chose; retries of open invoices), and the
    open invoices of subscriptions about to end, which are closed with them."""
    work_of = {row.id: due.due_work(state_of(row), now) for row in rows}
    charging = [row for row in rows if work_of[row.id] in (DueWork.CHARGE, DueWork.RETRY)]
    needs_invoices = [
        row.id
        for row in rows
        if work_of[row.id] in (DueWork.RETRY, DueWork.EXPIRE, DueWork.ABANDON)
    ]
    # A subscription cancelled at period end still owes its last period's overage.
    ending = [
        row
        for row in rows
        if work_of[row.id] is DueWork.EXPIRE and state_of(row).status is Status.CANCELED
    ]
    open_invoices = await uow.billing.open_invoices_by_subscription(needs_invoices)
    plan = BatchPlan()
    for (subscription_id, _), invoice in open_invoices.items():
        if subscription_id is not None:
            plan.closing.setdefault(subscription_id, []).append(invoice)
    if not charging and not ending:
        return plan
    methods = await uow.billing.default_methods({row.user_id for row in (*charging, *ending)})
    discounts = await uow.discounts.discounts([row.id for row in charging])
    balances = await uow.credits.balances_for_update({row.user_id for row in charging})
    attempted = await uow.billing.attempts_made([row.id for row in charging])
    overrides = await uow.plans.customer_prices(
        (row.user_id, (row.pending_plan or row.plan).id) for row in charging
    )
    # Usage past the included units of the period that ends is billed with the renewal.
    overages = await uow.usage.overages(
        [
            (row.user_id, row.plan_id, row.current_period_start)
            for row in (*charging, *ending)
            if row.current_period_start is not None
        ]
    )
    for row in ending:
        final = _final_usage(row, methods.get(row.user_id), overages)
        if final is not None:
            plan.collections[row.id] = final
    for row in charging:
        method = methods.get(row.user_id)
        if method is None:
            continue  # no way to pay: _apply_due records the failure
        state = state_of(row)
        charged_plan = row.pending_plan or row.plan
        period_start, anchor = row.current_period_end, row.billing_cycle_anchor
        assert period_start is not None and anchor is not None
        period_end = next_period_end(
            anchor, period_start, charged_plan.interval, charged_plan.interval_count
        )
        retry = work_of[row.id] is DueWork.RETRY
        if retry:
            purpose, attempt = PaymentPurpose.RETRY, row.retry_count + 1
        elif state.status is Status.TRIALING:
            purpose, attempt = PaymentPurpose.TRIAL_CONVERSION, 0
        else:
            purpose, attempt = PaymentPurpose.RENEWAL, 0
        if (row.id, period_start, attempt) in attempted:
            plan.awaiting.add(row.id)  # charged already, still processing: a webhook settles it
            continue
        line = Line(
            LineKind.SUBSCRIPTION,
            charged_plan.name,
            renewal_price(
                row,
                charged_plan,
                period_start,
                override_of(overrides.get((row.user_id, charged_plan.id))),
            ),
            charged_plan.code,
            period_start,
            period_end,
        )
        usage_lines = renewal_usage_lines(row, period_start, overages)
        discount = None if retry else discounts.get(row.id)  # a retry keeps its invoice
        lines = discounted(discount, (line, *usage_lines))
        balance = None if retry else balances.get(row.user_id)
        credit = credit_line(balance.balance_cents, lines) if balance else None
        if balance is None or credit is None or balance.currency != row.currency:
            balance, credit = None, None
        spec = ChargeSpec(
            order=row,
            method=method,
            purpose=purpose,
            lines=(*lines, credit) if credit else lines,
            invoice=open_invoices.get((row.id, period_start)) if retry else None,
            idempotency_key=idempotency_key(str(row.id), period_start.isoformat(), str(attempt)),
            off_session=True,
            period_start=period_start,
            attempt=attempt,
        )
        plan.collections[row.id] = Collection(row, state, charged_plan, spec, discount, balance)
    return plan


def _final_usage(
    row: Subscription,
    method: PaymentMethod | None,
    overages: dict[tuple[str, datetime], list[Overage]],
) -> Collection | None:
    """The charge for an ending subscription's last period of overage, if it has any."""
    period_start, period_end = row.current_period_start, row.current_period_end
    if method is None or period_start is None or period_end is None:
        return None  # nothing to charge with: the usage stays in the counters for support
    lines = renewal_usage_lines(row, period_end, overages)
    if not lines:
        return None
    spec = ChargeSpec(
        order=row,
        method=method,
        purpose=PaymentPurpose.FINAL_USAGE,
        lines=tuple(lines),
        idempotency_key=idempotency_key(str(row.id), period_start.isoformat(), "final_usage"),
        off_session=True,
        period_start=period_start,
    )
    return Collection(row, state_of(row), row.plan, spec)
