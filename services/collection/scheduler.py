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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from models import (
    Invoice,
    Plan,
    Subscription,
)
from services.billing.payments import (
    PaymentView,
    call_gateway,
    mark_invoice,
    new_payment,
    settle,
)
from services.billing.rules import InvoiceStatus, LineKind
from services.bulk import renewals
from services.bulk.renewals import GATEWAY_CONCURRENCY
from services.collection.due_charges import Collection, plan_batch
from services.common.errors import DomainError
from services.common.tasks import all_or_none, each_at_most
from services.credits.ledger import record, release_invoice
from services.credits.rules import CreditKind
from services.discounts.redemption import use_cycle
from services.gateway.base import PaymentGateway
from services.messaging import events
from services.messaging.events import iso
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.operations import EVERYONE, DueScope
from services.store.plans import policy_of, terms_of
from services.store.subscriptions import state_of
from services.subscriptions import due, lifecycle, pausing
from services.subscriptions.due import DueWork
from services.subscriptions.lifecycle import Status, Transition
from services.subscriptions.transitions import apply_transition, subscription_data

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


async def run_due_work(
    deps: Deps,
    batch_size: int | None = None,
    scope: DueScope | None = None,
    actor: str = SCHEDULER_ACTOR,
) -> int:
    """Apply everything due at the clock's `now`, batch after batch, until nothing is
    left; returns how many subscriptions were acted on. Rows that could not be handled
    now (gateway unreachable, a charge still processing) wait for the next run. Without
    a `scope`, customers on a test clock are left to their clock's advance. `actor`
    signs the history rows (an admin who asked for the run)."""
    report = RunReport()
    batch_size = batch_size or deps.settings.scheduler_batch_size
    scope = scope or DueScope(clocks_on=deps.settings.test_clock)

    async def batches() -> None:
        while await run_batch(deps, batch_size, report, scope, actor):
            pass

    await all_or_none(*(batches() for _ in range(BATCHES_IN_FLIGHT)))
    return report.changed


async def run_batch(
    deps: Deps,
    batch_size: int,
    report: RunReport,
    scope: DueScope = EVERYONE,
    actor: str = SCHEDULER_ACTOR,
) -> int:
    """One batch; returns how many rows it claimed (0 when nothing is due)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        plain = await renewals.claim(uow, now, batch_size, report.skipped, scope)
        if plain:  # the bulk of a month-start run: written in bulk
            changed = await renewals.renew(
                uow,
                deps.gateway,
                plain,
                await uow.plans.free_plan(),
                actor,
                now,
                report.skipped,
                scope,
            )
            report.changed += changed
            await uow.commit()
            return len(plain)
        rows = await uow.subscriptions.claim_due(now, batch_size, report.skipped, scope)
        if not rows:
            return 0
        free_plan = await uow.plans.free_plan()
        batch = await plan_batch(uow, rows, now)
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
                actor,
            )
            if acted:
                report.changed += 1
            else:
                report.skipped.add(row.id)
        for invoice in closed:  # credit spent on what was never paid comes back
            await release_invoice(uow, invoice, now, actor)
        await uow.commit()
        return len(rows)


def _plans(row: Subscription) -> dict[str, Plan]:
    return {p.code: p for p in (row.plan, row.pending_plan) if p is not None}


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
    actor: str,
) -> bool:
    """Write what is due for one row; False when nothing could be done now. Invoices it
    closes unpaid are added to `closed`."""
    state = state_of(row)
    acted = False
    if due.trial_reminder_due(state, now) and row.trial_reminder_sent_at is None:
        row.trial_reminder_sent_at = now
        data = {**subscription_data(row), "trialEnd": iso(row.trial_end)}
        uow.record(events.notification(row.user_id, "trial_ending_soon", now, **data))
        acted = True
    work = due.due_work(state, now)
    if work is None:
        return acted
    transition: Transition | None
    details: dict[str, object] = {}
    if work is DueWork.EXPIRE:
        transition = due.expire(state, now, policy_of(row.plan))
        if collection is not None:  # the last period's overage
            view = _record_payment(uow, collection, numbers, now, platform)
            details = {"finalUsageInvoice": view.invoice_number, "amountCents": view.amount_cents}
    elif work is DueWork.ABANDON:
        transition = due.abandon_checkout(state, now)
    elif work is DueWork.RESUME:
        transition = pausing.resume(state, now)
    elif collection is None:  # a charge was due but there is no method to charge
        transition = lifecycle.payment_failed(state, now, policy_of(row.plan))
        details = {"failure": "no payment method on file"}
    else:
        transition, details = _record_charge(uow, collection, numbers, now, platform)
    if transition is None:
        return acted
    grace_over = work is DueWork.EXPIRE and state.status is Status.PAST_DUE
    if grace_over or transition.after.status in (Status.EXPIRED, Status.FAILED):
        # What grace could not collect is uncollectible (whatever the plan's policy makes
        # of the subscription then); an abandoned checkout owes nothing.
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
        actor=actor,
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
