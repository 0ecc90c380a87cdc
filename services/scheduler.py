"""The lifecycle scheduler: trial conversions, renewals, retries during grace, expiry,
abandoned checkouts and trial reminders, applied in batches.

Batches are claimed with FOR UPDATE SKIP LOCKED, so several workers share the due set
without taking the same row. A batch is one transaction, with a savepoint per
subscription so one unreachable gateway call does not undo the others. A crash
mid-batch rolls the batch back; the rerun charges with the same processor
idempotency keys, and a unique index allows one paid charge per period, so nothing
is renewed twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from models import Plan, Subscription
from services import events, lifecycle
from services.billing_rules import InvoiceStatus, Line, LineKind, PaymentPurpose
from services.deps import Deps
from services.errors import DomainError
from services.events import iso
from services.gateway.base import PaymentGateway
from services.lifecycle import DueWork, Status
from services.payments import charge, gateway_key, mark_invoice
from services.periods import next_period_end
from services.store.plans import terms_of
from services.store.subscriptions import state_of
from services.transitions import apply_transition, subscription_data
from services.uow import UnitOfWork

log = logging.getLogger(__name__)
SCHEDULER_ACTOR = "system:scheduler"
BATCH_SIZE = 100


@dataclass
class RunReport:
    changed: int = 0
    skipped: set[uuid.UUID] = field(default_factory=set)


async def run_due_work(deps: Deps, batch_size: int = BATCH_SIZE) -> int:
    """Apply everything due at the clock's `now`, batch after batch, until nothing is
    left; returns how many subscriptions were acted on. Rows whose gateway call could
    not be made are left for the next run."""
    report = RunReport()
    while True:
        claimed = await run_batch(deps, batch_size, report)
        if claimed == 0:
            return report.changed


async def run_batch(deps: Deps, batch_size: int, report: RunReport) -> int:
    now = deps.clock.now()
    async with deps.uow() as uow:
        rows = await uow.subscriptions.claim_due(now, batch_size, report.skipped)
        if not rows:
            return 0
        free_plan = await uow.plans.free_plan()
        for row in rows:
            try:
                async with uow.savepoint():
                    acted = await apply_due(uow, deps.gateway, row, free_plan, now)
            except (DomainError, IntegrityError) as error:
                # The gateway was unreachable, or this period's charge is already recorded
                # (awaiting the processor): leave it for a later run.
                log.warning("due work for subscription %s deferred: %s", row.id, error)
                acted = False
            if acted:
                report.changed += 1
            else:
                report.skipped.add(row.id)
        await uow.commit()
        return len(rows)


def _plans(row: Subscription) -> dict[str, Plan]:
    return {p.code: p for p in (row.plan, row.pending_plan) if p is not None}


async def apply_due(
    uow: UnitOfWork, gateway: PaymentGateway, row: Subscription, free_plan: Plan, now: datetime
) -> bool:
    """Do what is due for one subscription; False when nothing could be done now."""
    state = state_of(row)
    reminded = False
    if lifecycle.trial_reminder_due(state, now) and row.trial_reminder_sent_at is None:
        row.trial_reminder_sent_at = now
        data = {**subscription_data(row), "trialEnd": iso(row.trial_end)}
        uow.record(events.notification(row.user_id, "trial_ending_soon", now, **data))
        reminded = True
    work = lifecycle.due_work(state, now)
    if work is None:
        return reminded
    if work is DueWork.EXPIRE:
        transition = lifecycle.expire(state, now)
        if state.status is Status.PAST_DUE:
            for invoice in await uow.billing.open_invoices(row.id):
                mark_invoice(invoice, InvoiceStatus.UNCOLLECTIBLE, now)
    elif work is DueWork.ABANDON:
        transition = lifecycle.abandon_checkout(state, now)
        for invoice in await uow.billing.open_invoices(row.id):
            mark_invoice(invoice, InvoiceStatus.VOID, now)
    else:
        collected = await _collect(uow, gateway, row, state, work, now)
        if collected is None:
            return reminded
        transition, details = collected
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
    apply_transition(
        uow, row, transition, _plans(row), free_plan=free_plan, actor=SCHEDULER_ACTOR, now=now
    )
    return True


async def _collect(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    row: Subscription,
    state: lifecycle.SubscriptionState,
    work: DueWork,
    now: datetime,
) -> tuple[lifecycle.Transition, dict[str, object]] | None:
    """Charge for the period that starts at the current period's end: at the price in
    force now, on the plan a scheduled downgrade chose."""
    plan = row.pending_plan or row.plan
    period_start = row.current_period_end
    anchor = row.billing_cycle_anchor
    assert period_start is not None and anchor is not None
    period_end = next_period_end(anchor, period_start, plan.interval)
    method = await uow.billing.default_payment_method(row.user_id)
    if method is None:
        transition = lifecycle.payment_failed(state, now)
        return transition, {"failure": "no payment method on file"}
    if work is DueWork.CHARGE:
        purpose = (
            PaymentPurpose.TRIAL_CONVERSION
            if state.status is Status.TRIALING
            else PaymentPurpose.RENEWAL
        )
        attempt, invoice = 0, None
    else:
        purpose, attempt = PaymentPurpose.RETRY, row.retry_count + 1
        invoice = await uow.billing.open_invoice_for(row.id, period_start)
    line = Line(
        LineKind.SUBSCRIPTION, plan.name, plan.price_cents, plan.code, period_start, period_end
    )
    payment, _ = await charge(
        uow,
        gateway,
        subscription=row,
        method=method,
        purpose=purpose,
        lines=[line],
        invoice=invoice,
        idempotency_key=gateway_key(str(row.id), period_start.isoformat(), str(attempt)),
        now=now,
        off_session=True,
        period_start=period_start,
        attempt=attempt,
    )
    settled = lifecycle.payment_result(
        state, terms_of(plan), payment.amount_cents, payment.status, now
    )
    if settled is None:  # still processing: the processor's webhook will settle it
        return None
    details: dict[str, object] = {
        "invoice": payment.invoice_number,
        "amountCents": payment.amount_cents,
    }
    if payment.failure_message:
        details["failure"] = payment.failure_message
    return settled, details
