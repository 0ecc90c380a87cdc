"""One idempotent handler for payment results, whoever reports them: Stripe webhooks and
`payment.processed` messages from Kafka.

Each message is put in the inbox (keyed by source and id) in the transaction that
applies it, so a duplicate is a no-op. Results are applied in the order they happened,
not the order they arrive: a payment that succeeded stays succeeded, and an event
older than the newest one applied to the payment changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from models import Payment, Plan, QuotaPack, Subscription
from services.billing.payments import invoice_status_after, mark_invoice
from services.billing.rules import (
    InvoiceStatus,
    PaymentPurpose,
    PaymentStatus,
    StaleResult,
    result_changes_status,
)
from services.bulk import payment_results as bulk_results
from services.bulk import statements as bulk_statements
from services.bulk.payment_results import OUTCOME_OF, result_transition
from services.common.errors import InvalidTransition
from services.credits.ledger import release_invoice
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.messaging import InboxRecord
from services.store.plans import terms_of
from services.store.subscriptions import state_of
from services.subscriptions import lifecycle
from services.subscriptions.transitions import apply_transition
from services.usage.packs import settle_pack


class ResultOutcome(StrEnum):
    APPLIED = "applied"  # the payment (and the subscription, if it could move) updated
    DUPLICATE = "duplicate"  # this message was handled before
    STALE = "stale"  # older than what we hold, or the subscription has moved on
    UNKNOWN_PAYMENT = "unknown_payment"  # no payment of ours matches
    IGNORED = "ignored"  # not a payment result


@dataclass(frozen=True)
class PaymentResultMessage:
    source: str  # "stripe", "kafka"
    message_id: str
    message_type: str
    occurred_at: datetime
    status: PaymentStatus | None  # None: a message we record but do not act on
    processor_payment_id: str | None = None
    payment_id: uuid.UUID | None = None  # ours, when the sender echoes our metadata
    failure_message: str | None = None
    payload: dict[str, Any] | None = None


async def apply_payment_result(deps: Deps, message: PaymentResultMessage) -> ResultOutcome:
    [outcome] = await apply_payment_results(deps, [message])
    return outcome


async def apply_payment_results(
    deps: Deps, messages: Sequence[PaymentResultMessage]
) -> list[ResultOutcome]:
    """Apply results in one transaction (a consumer's batch): the inbox rows, the user
    locks and the payments, invoices and subscriptions they touch are written and read a
    batch at a time, then the results are applied in order in memory. A duplicate, even
    one inside the same batch, finds its inbox row."""
    now = deps.clock.now()
    outcomes = []
    async with deps.uow() as uow:
        records = [InboxRecord(m.source, m.message_id, m.message_type, m.payload) for m in messages]
        fresh = await uow.messaging.record_messages(records, now)
        applying = []
        for message in messages:
            key = (message.source, message.message_id)
            applying.append(key in fresh)
            fresh.discard(key)  # a repeat later in this batch is a duplicate
        in_bulk, bulk = await _load_bulk(uow, messages)
        batch = await _load(
            uow,
            [m for n, m in enumerate(messages) if applying[n] and n not in in_bulk],
        )
        free_plan = await uow.plans.free_plan() if in_bulk else None
        recorded = []
        for position, (message, new) in enumerate(zip(messages, applying, strict=True)):
            if not new:
                outcomes.append(ResultOutcome.DUPLICATE)
                continue
            if position in in_bulk:
                assert free_plan is not None
                outcome = _apply_in_bulk(uow, bulk, message, free_plan, now)
            else:
                outcome = await _apply(uow, batch, message, now)
            recorded.append((message.source, message.message_id, outcome.value))
            outcomes.append(outcome)
        await bulk_results.write(uow, bulk, now)
        await uow.messaging.set_outcomes(recorded)
        await uow.commit()
    return outcomes


async def _load_bulk(
    uow: UnitOfWork, messages: Sequence[PaymentResultMessage]
) -> tuple[set[int], bulk_results.BulkResults]:
    """Lock every user the batch names (in one sorted statement, before any row), then
    the subscription payments that go in bulk; returns which messages (by position) do."""
    routes = await bulk_statements.payment_routes(uow.session, *_named(messages))
    await uow.subscriptions.lock_users({route["owner_id"] for route in routes})
    chosen = bulk_results.bulk_payment_ids(routes)
    loaded = await bulk_results.load(uow, chosen)
    in_bulk = {
        position
        for position, message in enumerate(messages)
        if message.status is not None
        and loaded.payment(message.payment_id, message.processor_payment_id) is not None
    }
    return in_bulk, loaded


def _apply_in_bulk(
    uow: UnitOfWork,
    bulk: bulk_results.BulkResults,
    message: PaymentResultMessage,
    free_plan: Plan,
    now: datetime,
) -> ResultOutcome:
    payment = bulk.payment(message.payment_id, message.processor_payment_id)
    assert payment is not None and message.status is not None  # routed here when found
    try:
        bulk_results.apply(
            uow,
            bulk,
            payment,
            message.status,
            message.occurred_at,
            message.failure_message,
            free_plan=free_plan,
            actor=f"system:{message.source}",
            details={"messageId": message.message_id, "paymentId": str(payment.id)},
            now=now,
        )
    except StaleResult:
        return ResultOutcome.STALE
    return ResultOutcome.APPLIED


@dataclass(frozen=True)
class _Batch:
    """The payments a batch names and their orders, locked and loaded up front."""

    by_id: dict[uuid.UUID, Payment]
    by_processor_id: dict[str, Payment]
    subscriptions: dict[uuid.UUID, Subscription]
    packs: dict[uuid.UUID, QuotaPack]

    def payment(self, message: PaymentResultMessage) -> Payment | None:
        if message.payment_id is not None:
            return self.by_id.get(message.payment_id)
        if message.processor_payment_id:
            return self.by_processor_id.get(message.processor_payment_id)
        return None


def _named(
    messages: Sequence[PaymentResultMessage],
) -> tuple[set[uuid.UUID], set[str]]:
    """The payments the results name: by our id, else by the processor's."""
    acting = [m for m in messages if m.status is not None]
    ids = {m.payment_id for m in acting if m.payment_id is not None}
    processor_ids = {
        m.processor_payment_id for m in acting if m.payment_id is None and m.processor_payment_id
    }
    return ids, processor_ids


async def _load(uow: UnitOfWork, messages: Sequence[PaymentResultMessage]) -> _Batch:
    """The general path's payments and orders (their users are locked by `_load_bulk`,
    before any row: the order the API's writes take them in)."""
    payments = await uow.billing.payments_for_update(*_named(messages))
    await uow.billing.load_invoices({p.invoice_id for p in payments if p.invoice_id})
    subscriptions = await uow.subscriptions.by_ids_for_update(
        {p.order_id for p in payments if p.order_id}
    )
    packs = await uow.packs.by_ids_for_update(
        {p.quota_pack_id for p in payments if p.quota_pack_id}
    )
    return _Batch(
        {p.id: p for p in payments},
        {p.payment_id: p for p in payments if p.payment_id},
        subscriptions,
        packs,
    )


async def _apply(
    uow: UnitOfWork, batch: _Batch, message: PaymentResultMessage, now: datetime
) -> ResultOutcome:
    if message.status is None:
        return ResultOutcome.IGNORED
    payment = batch.payment(message)
    if payment is None:
        return ResultOutcome.UNKNOWN_PAYMENT
    try:
        changes = result_changes_status(
            payment.status_literal, payment.processor_event_at, message.status, message.occurred_at
        )
    except StaleResult:
        return ResultOutcome.STALE
    payment.processor_event_at = message.occurred_at
    payment.updated_at = now
    if not changes:
        return ResultOutcome.APPLIED
    payment.status_literal = message.status
    payment.failure_message = message.failure_message
    if payment.invoice_id is not None:
        invoice = await uow.billing.invoice(payment.invoice_id)
        if invoice is not None:
            status = invoice_status_after(OUTCOME_OF[message.status], payment.purpose)
            mark_invoice(invoice, status, now)
            if status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE):
                await release_invoice(uow, invoice, now, f"system:{message.source}")
    if payment.quota_pack_id is not None:
        await settle_pack(uow, batch.packs[payment.quota_pack_id], message.status, now)
    elif payment.order_id is not None and payment.purpose is not PaymentPurpose.FINAL_USAGE:
        row = batch.subscriptions[payment.order_id]
        await _move_subscription(uow, row, payment, message, now)
    return ResultOutcome.APPLIED


async def _move_subscription(
    uow: UnitOfWork,
    row: Subscription,
    payment: Payment,
    message: PaymentResultMessage,
    now: datetime,
) -> None:
    assert message.status is not None
    state = state_of(row)
    plans = {p.code: p for p in (row.plan, row.pending_plan) if p is not None}
    try:
        if payment.purpose is PaymentPurpose.UPGRADE:
            if message.status is not PaymentStatus.SUCCESS or payment.target_plan_id is None:
                return
            target = (await uow.plans.by_ids([payment.target_plan_id]))[payment.target_plan_id]
            plans[target.code] = target
            period = None
            if payment.invoice_id is not None:
                period = await uow.billing.period_bought(payment.invoice_id)
            up = target.tier_rank > row.plan.tier_rank
            transition = lifecycle.change_plan(
                state, terms_of(target), now, upgrade=up, period=period
            )
        else:
            found = result_transition(
                state,
                row.plan,
                row.pending_plan,
                payment.purpose,
                payment.amount_cents,
                message.status,
                now,
            )
            if found is None:
                return
            transition = found
    except InvalidTransition:
        return  # the subscription has moved on; the payment record still tells the truth
    apply_transition(
        uow,
        row,
        transition,
        plans,
        free_plan=await uow.plans.free_plan(),
        actor=f"system:{message.source}",
        now=now,
        details={"messageId": message.message_id, "paymentId": str(payment.id)},
    )
