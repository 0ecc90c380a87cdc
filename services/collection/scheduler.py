"""The lifecycle scheduler: trial conversions, renewals, retries during grace, expiry,
abandoned checkouts and trial reminders, applied in batches.

A batch is one transaction in three steps: claim the due rows with FOR UPDATE SKIP
LOCKED (several workers share the due set without taking the same row); ask the
gateway for every charge in the batch, concurrently; then write payments, invoices,
transitions, history and events, flushed together at commit. A row whose gateway call
fails is left for the next run and nothing of it is written. A crash before commit
writes nothing; the rerun charges with the same processor idempotency keys (derived
from subscription, period and attempt), and a unique index allows one paid charge per
period, so nothing is ever renewed twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
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
from services.billing.payments import (
    ChargeSpec,
    PaymentView,
    call_gateway,
    mark_invoice,
    new_payment,
    settle,
)
from services.billing.rules import InvoiceStatus, Line, LineKind, PaymentPurpose
from services.bulk import renewals
from services.bulk.renewals import GATEWAY_CONCURRENCY
from services.common.errors import DomainError
from services.common.tasks import all_or_none, each_at_most
from services.credits.ledger import record, release_invoice
from services.credits.rules import CreditKind, credit_line
from services.discounts.redemption import discounted, use_cycle
from services.gateway.base import ChargeResult, PaymentGateway, idempotency_key
from services.messaging import events
from services.messaging.events import iso
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.periods import next_period_end
from services.store.plans import terms_of
from services.store.subscriptions import state_of
from services.store.usage import Overage
from services.subscriptions import lifecycle, pausing
from services.subscriptions.lifecycle import DueWork, Status, SubscriptionState, Transition
from services.subscriptions.transitions import apply_transition, subscription_data
from services.usage.metering import renewal_usage_lines

log = logging.getLogger(__name__)
SCHEDULER_ACTOR = "system:scheduler"
# Three batches at once (SCHEDULER_BATCH_SIZE rows each, 2,000 by default), each in its
# own transaction on its own rows (SKIP LOCKED): while one waits on PostgreSQL writing
# its rows, the others are decided and charged. (100,000 due renewals, local gateway:
# ~5,200 rows/s at 500 x 2, ~6,600 at 2,000 x 3.)
BATCHES_IN_FLIGHT = 3


@dataclass
class RunReport:
    changed: int = 0
    skipped: set[uuid.UUID] = field(default_factory=set)


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


async def run_due_work(deps: Deps, batch_size: int | None = None) -> int:
    """Apply everything due at the clock's `now`, batch after batch, until nothing is
    left; returns how many subscriptions were acted on. Rows that could not be handled
    now (gateway unreachable, a charge still processing) wait for the next run."""
    report = RunReport()
    batch_size = batch_size or deps.settings.scheduler_batch_size

    async def batches() -> None:
        while await run_batch(deps, batch_size, report):
            pass

    await all_or_none(*(batches() for _ in range(BATCHES_IN_FLIGHT)))
    return report.changed


async def run_batch(deps: Deps, batch_size: int, report: RunReport) -> int:
    """One batch; returns how many rows it claimed (0 when nothing is due)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        plain = await renewals.claim(uow, now, batch_size, report.skipped)
        if plain:  # the bulk of a month-start run: written in bulk
            changed = await renewals.renew(
                uow,
                deps.gateway,
                plain,
                await uow.plans.free_plan(),
                SCHEDULER_ACTOR,
                now,
                report.skipped,
            )
            report.changed += changed
            await uow.commit()
            return len(plain)
        rows = await uow.subscriptions.claim_due(now, batch_size, report.skipped)
        if not rows:
            return 0
        free_plan = await uow.plans.free_plan()
        batch = await _plan_batch(uow, rows, now)
        await _charge_all(deps.gateway, batch.collections)
        charged = [c for c in batch.collections.values() if c.result is not None]
        await _queue_unreachable(uow, batch.collections.values(), now)
        numbers = iter(
            await uow.billing.invoice_numbers(sum(1 for c in charged if c.spec.invoice is None))
        )
        closed: list[Invoice] = []
        for row in rows:
            collection = batch.collections.get(row.id)
            unreachable = collection is not None and collection.result is None
            if unreachable or row.id in batch.awaiting:
                report.skipped.add(row.id)
                continue
            acted = _apply_due(
                uow,
                row,
                collection,
                batch.closing.get(row.id, []),
                numbers,
                free_plan,
                now,
                deps.gateway.platform,
                closed,
            )
            if acted:
                report.changed += 1
            else:
                report.skipped.add(row.id)
        for invoice in closed:  # credit spent on what was never paid comes back
            await release_invoice(uow, invoice, now, SCHEDULER_ACTOR)
        await uow.commit()
        return len(rows)


def _plans(row: Subscription) -> dict[str, Plan]:
    return {p.code: p for p in (row.plan, row.pending_plan) if p is not None}


@dataclass
class BatchPlan:
    collections: dict[uuid.UUID, Collection] = field(default_factory=dict)
    closing: dict[uuid.UUID, list[Invoice]] = field(default_factory=dict)  # open invoices
    awaiting: set[uuid.UUID] = field(default_factory=set)  # a charge is still processing


async def _plan_batch(uow: UnitOfWork, rows: Sequence[Subscription], now: datetime) -> BatchPlan:
    """The charges this batch must make (trial conversions and renewals at the price in
    force now, on the plan a scheduled downgrade chose; retries of open invoices), and the
    open invoices of subscriptions about to end, which are closed with them."""
    due = {row.id: lifecycle.due_work(state_of(row), now) for row in rows}
    charging = [row for row in rows if due[row.id] in (DueWork.CHARGE, DueWork.RETRY)]
    needs_invoices = [
        row.id for row in rows if due[row.id] in (DueWork.RETRY, DueWork.EXPIRE, DueWork.ABANDON)
    ]
    # A subscription cancelled at period end still owes its last period's overage.
    ending = [
        row
        for row in rows
        if due[row.id] is DueWork.EXPIRE and state_of(row).status is Status.CANCELED
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
        period_end = next_period_end(anchor, period_start, charged_plan.interval)
        retry = due[row.id] is DueWork.RETRY
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
            charged_plan.price_cents,
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


async def _charge_all(gateway: PaymentGateway, collections: dict[uuid.UUID, Collection]) -> None:
    async def charge(collection: Collection) -> None:
        try:
            collection.result = await call_gateway(gateway, collection.spec)
        except DomainError as error:
            collection.error = error.message
            log.warning("charge for %s deferred: %s", collection.row.id, error.message)

    await each_at_most(GATEWAY_CONCURRENCY, collections.values(), charge)


async def _queue_unreachable(
    uow: UnitOfWork, collections: Iterable[Collection], now: datetime
) -> None:
    """Charges the gateway could not take wait in their own queue with backoff (not a
    decline); charges it answered leave it."""
    deferred, answered = [], []
    for collection in collections:
        if collection.result is None:
            deferred.append((collection.row.id, collection.row.user_id, collection.error or ""))
        else:
            answered.append(collection.row.id)
    if deferred:
        await uow.billing.defer_charges(deferred, now)
    await uow.billing.clear_deferrals(answered)


def _apply_due(
    uow: UnitOfWork,
    row: Subscription,
    collection: Collection | None,
    open_invoices: list[Invoice],
    numbers: Iterator[str],
    free_plan: Plan,
    now: datetime,
    platform: str,
    closed: list[Invoice],
) -> bool:
    """Write what is due for one row; False when nothing could be done now. Invoices it
    closes unpaid are added to `closed`."""
    state = state_of(row)
    acted = False
    if lifecycle.trial_reminder_due(state, now) and row.trial_reminder_sent_at is None:
        row.trial_reminder_sent_at = now
        data = {**subscription_data(row), "trialEnd": iso(row.trial_end)}
        uow.record(events.notification(row.user_id, "trial_ending_soon", now, **data))
        acted = True
    work = lifecycle.due_work(state, now)
    if work is None:
        return acted
    transition: Transition | None
    details: dict[str, object] = {}
    if work is DueWork.EXPIRE:
        transition = lifecycle.expire(state, now)
        if collection is not None:  # the last period's overage
            view = _record_payment(uow, collection, numbers, now, platform)
            details = {"finalUsageInvoice": view.invoice_number, "amountCents": view.amount_cents}
    elif work is DueWork.ABANDON:
        transition = lifecycle.abandon_checkout(state, now)
    elif work is DueWork.RESUME:
        transition = pausing.resume(state, now)
    elif collection is None:  # a charge was due but there is no method to charge
        transition = lifecycle.payment_failed(state, now)
        details = {"failure": "no payment method on file"}
    else:
        transition, details = _record_charge(uow, collection, numbers, now, platform)
    if transition is None:
        return acted
    if transition.after.status in (Status.EXPIRED, Status.FAILED):
        # What grace could not collect is uncollectible; an abandoned checkout owes nothing.
        closing = (
            InvoiceStatus.UNCOLLECTIBLE if state.status is Status.PAST_DUE else InvoiceStatus.VOID
        )
        for invoice in open_invoices:
            mark_invoice(invoice, closing, now)
            closed.append(invoice)
    apply_transition(
        uow,
        row,
        transition,
        _plans(row),
        free_plan=free_plan,
        actor=SCHEDULER_ACTOR,
        now=now,
        details=details,
    )
    return True


def _record_payment(
    uow: UnitOfWork, collection: Collection, numbers: Iterator[str], now: datetime, platform: str
) -> PaymentView:
    assert collection.result is not None
    spec = collection.spec
    payment = new_payment(spec, platform, now)
    uow.billing.add(payment)
    number = next(numbers) if spec.invoice is None else None
    use_cycle(collection.discount, spec.lines)
    view = settle(uow, payment, spec, collection.result, now, number)
    spent = sum(line.amount_cents for line in spec.lines if line.kind is LineKind.CREDIT)
    if collection.credit is not None and spent:
        reason = f"applied to invoice {view.invoice_number}"
        record(
            uow,
            collection.credit,
            spent,
            CreditKind.APPLIED,
            reason,
            SCHEDULER_ACTOR,
            now,
            payment.invoice_id,
        )
    return view


def _record_charge(
    uow: UnitOfWork, collection: Collection, numbers: Iterator[str], now: datetime, platform: str
) -> tuple[Transition | None, dict[str, object]]:
    view = _record_payment(uow, collection, numbers, now, platform)
    transition = lifecycle.payment_result(
        collection.state, terms_of(collection.plan), view.amount_cents, view.status, now
    )
    details: dict[str, object] = {"invoice": view.invoice_number, "amountCents": view.amount_cents}
    if view.failure_message:
        details["failure"] = view.failure_message
    return transition, details
