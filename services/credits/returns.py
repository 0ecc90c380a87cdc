"""Money going back, drawn against the invoice that paid for it.

One rule for every return (docs/money.md): a refund, the unused time of an immediate
cancellation or a pause, and an upgrade's proration credit are each a credit note
against the invoice that paid for that money, and an invoice never gives back more
than paid it (`refunded + credited <= paid + credit applied`, also a check constraint).
Each path uses what the others left: a refund after an unused-time credit returns only
what the credit did not, and unused time after a refund counts only the unrefunded part.

An invoice whose unused time went back (`time_credited_at`) pays for no later time: the
upgrade's invoice takes over from the period's, a cancellation or a pause ends it.
An upgrade that is never paid voids its proration note, giving the time back (and the
credit ledger gives back the balance spent on an invoice that is never paid)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from models import CreditNote, Invoice, Subscription
from services.billing.rules import LineKind
from services.credits.rules import (
    CreditNoteKind,
    returnable_cents,
    unused_time_cents,
)
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.uow import UnitOfWork
from services.store.credits import TIME_KINDS

TIME_PAID_KINDS = frozenset({*TIME_KINDS, LineKind.DISCOUNT})


@dataclass(frozen=True)
class UnusedTime:
    """What the invoice paying for the period can give back for the time left."""

    invoice: Invoice
    amount_cents: int


async def returnable(uow: UnitOfWork, invoice: Invoice) -> int:
    return _left(invoice, await uow.credits.invoice_refunds_cents(invoice.id))


def _left(invoice: Invoice, refunded_cents: int) -> int:
    """What the invoice can still give back, its refunds (pending ones too) known."""
    return returnable_cents(
        invoice.amount_paid_cents,
        invoice.credit_applied_cents,
        refunded_cents,
        invoice.amount_credited_cents,
    )


async def unused_time(uow: UnitOfWork, row: Subscription, now: datetime) -> UnusedTime | None:
    """The unused, unrefunded part of what paid for the current period (nothing during a
    trial, past the period's end, or when no paid invoice covers the period)."""
    start, end = row.current_period_start, row.current_period_end
    if start is None or end is None or now >= end:
        return None
    if row.trial_end is not None and now < row.trial_end:
        return None  # a trial was not paid for
    invoice = await uow.credits.funding_invoice_for_update(row.id, start, end)
    if invoice is None:
        return None
    time_lines = [line for line in invoice.lines if line.kind in TIME_KINDS and line.period_end]
    first = min((line.period_start for line in time_lines if line.period_start), default=None)
    last = max(line.period_end for line in time_lines if line.period_end)
    if first is None:
        return None
    refunded = await uow.credits.invoice_refunds_cents(invoice.id)
    amount = unused_time_cents(
        time_paid_cents=sum(
            line.amount_cents for line in invoice.lines if line.kind in TIME_PAID_KINDS
        ),
        funded_cents=invoice.amount_paid_cents + invoice.credit_applied_cents,
        refunded_cents=refunded,
        returnable=_left(invoice, refunded),
        # The invoice paid for its lines' span; what is left of it ends with the period.
        remaining_seconds=int((end - now).total_seconds()),
        span_seconds=int((last - first).total_seconds()),
    )
    return UnusedTime(invoice, amount)


async def draw(
    uow: UnitOfWork,
    unused: UnusedTime,
    kind: CreditNoteKind,
    reason: str,
    now: datetime,
    *,
    amount_cents: int | None = None,
    applied_to: Invoice | None = None,
) -> CreditNote | None:
    """End the invoice's time now and give `amount_cents` (default: all the unused
    time) back against it with a credit note (none for nothing)."""
    invoice = unused.invoice
    amount = unused.amount_cents if amount_cents is None else amount_cents
    assert 0 <= amount <= unused.amount_cents
    invoice.time_credited_at = now
    if amount == 0:
        return None
    invoice.amount_credited_cents += amount
    note = CreditNote(
        id=uuid.uuid4(),
        number=await uow.billing.next_credit_note_number(),
        kind=kind,
        invoice_id=invoice.id,
        applied_invoice_id=applied_to.id if applied_to is not None else None,
        user_id=invoice.user_id,
        amount_cents=amount,
        currency=invoice.currency,
        reason=reason,
        lines=[{"description": f"{reason} (invoice {invoice.number})", "amountCents": -amount}],
        created_at=now,
    )
    uow.credits.add(note)
    uow.record(credit_note_issued(note, invoice, now))
    return note


async def void_proration_notes(uow: UnitOfWork, invoice: Invoice, now: datetime) -> None:
    """An upgrade's invoice was never paid: the proration credit that was to pay part of
    it goes back to the invoice it came from, whose time counts again."""
    for note in await uow.credits.proration_notes_paying(invoice.id):
        source = await uow.credits.invoice_for_update(note.invoice_id)
        assert source is not None
        note.voided_at = now
        source.amount_credited_cents -= note.amount_cents
        source.time_credited_at = None


def credit_note_issued(note: CreditNote, invoice: Invoice, now: datetime) -> DomainEvent:
    data = {
        "number": note.number,
        "kind": note.kind.value,
        "invoiceId": str(invoice.id),
        "invoiceNumber": invoice.number,
        "refundId": str(note.refund_id) if note.refund_id else None,
        "userId": note.user_id,
        "amountCents": note.amount_cents,
        "currency": note.currency,
        "reason": note.reason,
    }
    return DomainEvent(events.CREDIT_NOTE_ISSUED, note.user_id, data, now)
