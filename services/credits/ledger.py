"""The customer credit balance: credit comes from admin adjustments, refunds kept as
credit, the unused time of an immediate cancellation or a pause (CREDIT_UNUSED_TIME)
and credit restored from invoices never paid; it is spent on the next renewal invoices
before the card is charged. Every change is a
ledger row written with the balance row locked, in the transaction that caused it."""

from __future__ import annotations

import base64
import binascii
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from models import CreditBalance, CreditEntry, Invoice, Subscription
from services.billing.rules import InvoiceStatus
from services.common.errors import DomainError, ErrorCode
from services.common.pagination import Page, check_first
from services.common.text import check_text
from services.credits import returns
from services.credits.rules import CreditKind, CreditNoteKind, check_adjustment
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.pricing.rules import normalize_currency

MAX_REASON = 500
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdjustCredit:
    user_id: str
    amount_cents: int  # + gives credit, - takes it
    currency: str
    reason: str


@dataclass(frozen=True)
class CreditEntryView:
    id: int
    amount_cents: int
    balance_after_cents: int
    currency: str
    kind: CreditKind
    reason: str
    invoice_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: CreditEntry) -> CreditEntryView:
        invoice = str(entry.invoice_id) if entry.invoice_id else None
        return cls(
            entry.id,
            entry.amount_cents,
            entry.balance_after_cents,
            entry.currency,
            entry.kind,
            entry.reason,
            invoice,
            entry.created_at,
        )


def record(
    uow: UnitOfWork,
    balance: CreditBalance,
    amount_cents: int,
    kind: CreditKind,
    reason: str,
    actor: str,
    now: datetime,
    invoice_id: uuid.UUID | None = None,
) -> CreditEntry:
    """Move a locked balance and write its ledger row (and the event)."""
    balance.balance_cents += amount_cents
    balance.updated_at = now
    entry = CreditEntry(
        user_id=balance.user_id,
        currency=balance.currency,
        amount_cents=amount_cents,
        balance_after_cents=balance.balance_cents,
        kind=kind,
        reason=reason,
        invoice_id=invoice_id,
        actor=actor,
        created_at=now,
    )
    uow.credits.add(entry)
    data = {
        "userId": balance.user_id,
        "amountCents": amount_cents,
        "balanceCents": balance.balance_cents,
        "currency": balance.currency,
        "kind": kind.value,
        "reason": reason,
        "invoiceId": str(invoice_id) if invoice_id else None,
        "actor": actor,
    }
    uow.record(DomainEvent(events.CREDIT_ADJUSTED, balance.user_id, data, now))
    return entry


def _same_currency(balance: CreditBalance, currency: str) -> None:
    if balance.balance_cents > 0 and balance.currency != currency:
        raise DomainError(
            ErrorCode.CURRENCY_MISMATCH,
            f"the balance is held in {balance.currency}",
            "currency",
        )


async def credit(
    uow: UnitOfWork,
    user_id: str,
    amount_cents: int,
    currency: str,
    kind: CreditKind,
    reason: str,
    actor: str,
    now: datetime,
    invoice_id: uuid.UUID | None = None,
) -> CreditEntry:
    """Add to (or, negative, take from) the user's balance, in its currency."""
    balance = await uow.credits.balance_for_update(user_id, currency, now)
    _same_currency(balance, currency)
    if balance.balance_cents == 0:
        balance.currency = currency  # an empty balance takes the currency it is given
    check_adjustment(amount_cents, balance.balance_cents)
    return record(uow, balance, amount_cents, kind, reason, actor, now, invoice_id)


async def adjust_credit(deps: Deps, admin_id: str, cmd: AdjustCredit) -> CreditEntryView:
    check_user_id(cmd.user_id)
    reason = check_text(cmd.reason, "reason", MAX_REASON, required=True)
    currency = normalize_currency(cmd.currency)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.subscriptions.lock_user(cmd.user_id)
        entry = await credit(
            uow,
            cmd.user_id,
            cmd.amount_cents,
            currency,
            CreditKind.ADJUSTMENT,
            reason,
            admin_id,
            now,
        )
        await uow.commit()
        return CreditEntryView.of(entry)


async def credit_unused_time(
    uow: UnitOfWork, row: Subscription, now: datetime, actor: str
) -> CreditEntry | None:
    """The paid, unused and unrefunded part of the current period, drawn against the
    invoice that paid for it (a credit note) and added to the balance (an immediate
    cancellation or a pause; prorated to the second, half up)."""
    unused = await returns.unused_time(uow, row, now)
    if unused is None:
        return None
    return await credit_time(uow, row, unused, unused.amount_cents, now, actor)


async def credit_time(
    uow: UnitOfWork,
    row: Subscription,
    unused: returns.UnusedTime,
    amount_cents: int,
    now: datetime,
    actor: str,
) -> CreditEntry | None:
    """`amount_cents` of the unused time (all of it, or what an immediate downgrade
    leaves after the new plan's share) drawn against its invoice, whose time then stops
    counting, and added to the balance."""
    end = row.current_period_end
    assert end is not None
    reason = f"unused time on {row.plan.name} until {end.date().isoformat()}"
    note = await returns.draw(
        uow, unused, CreditNoteKind.UNUSED_TIME, reason, now, amount_cents=amount_cents
    )
    if note is None:
        return None
    return await credit(
        uow,
        row.user_id,
        note.amount_cents,
        row.currency,
        CreditKind.PRORATION,
        reason,
        actor,
        now,
        invoice_id=unused.invoice.id,
    )


async def release_invoice(uow: UnitOfWork, invoice: Invoice, now: datetime, actor: str) -> None:
    """An invoice ended void or uncollectible: the balance spent on it comes back (once,
    CREDIT_RESTORED) and proration credit that was to pay it goes back to its invoice."""
    assert invoice.status in (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)
    await returns.void_proration_notes(uow, invoice, now)
    spent = await uow.credits.spent_on(invoice.id)
    if spent <= 0 or await uow.credits.credit_restored(invoice.id):
        return
    reason = f"credit spent on invoice {invoice.number}, which was not paid"
    try:
        await credit(
            uow,
            invoice.user_id,
            spent,
            invoice.currency,
            CreditKind.CREDIT_RESTORED,
            reason,
            actor,
            now,
            invoice_id=invoice.id,
        )
    except DomainError as error:  # the balance moved to another currency meanwhile
        log.warning("credit of invoice %s not restored: %s", invoice.number, error.message)


async def balance_of(deps: Deps, user_id: str) -> tuple[int, str | None]:
    async with deps.uow() as uow:
        balance = await uow.credits.balance(user_id)
    return (balance.balance_cents, balance.currency) if balance else (0, None)


def entry_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"credit|{entry_id}".encode()).decode()


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        kind, _, raw = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if kind != "credit":
            raise ValueError(kind)
        return int(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "malformed cursor", "after") from exc


async def ledger_of(
    deps: Deps, user_id: str, first: int, after: str | None
) -> Page[CreditEntryView]:
    """The user's ledger, newest first."""
    check_user_id(user_id)
    check_first(first)
    before = _after(after)
    async with deps.uow() as uow:
        rows = await uow.credits.entries(user_id, first + 1, before)
    items = tuple(CreditEntryView.of(r) for r in rows[:first])
    end = entry_cursor(items[-1].id) if items else None
    return Page(items, len(rows) > first, end)
