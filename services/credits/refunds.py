"""Refunds (admin): full or partial, to the card through the gateway or to the
customer's credit balance, never more than what was paid less earlier refunds, even
when requests race (the payment row is locked while the refundable amount is read and
the refund recorded). Each settled refund issues a credit note with its own gapless
number, and the invoice shows what was refunded. Stripe's `charge.refunded` and
`refund.updated` webhooks settle pending refunds and bring in refunds made in Stripe's
dashboard (services/credits/refund_events.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models import CreditNote, Invoice, Payment, Refund
from services.billing.idempotency import check_key
from services.billing.payments import GATEWAY_DOWN_MESSAGE
from services.billing.rules import PaymentPurpose, PaymentStatus
from services.common.errors import DomainError, ErrorCode
from services.common.pagination import check_first
from services.common.text import check_text
from services.credits import returns
from services.credits.ledger import credit
from services.credits.rules import (
    CreditKind,
    CreditNoteKind,
    RefundStatus,
    check_refund,
    refundable_cents,
)
from services.gateway.base import (
    GatewayUnavailable,
    RefundRequest,
    RefundsUnsupported,
    idempotency_key,
)
from services.messaging import events
from services.messaging.events import DomainEvent
from services.platform.auth import check_user_id
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork

MAX_REASON = 500


@dataclass(frozen=True)
class RefundPayment:
    payment_id: str
    reason: str
    amount_cents: int | None = None  # None: everything still refundable
    to_credit_balance: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CreditNoteView:
    number: str
    invoice_id: uuid.UUID
    amount_cents: int
    currency: str
    reason: str
    lines: tuple[dict[str, Any], ...]
    created_at: datetime

    @classmethod
    def of(cls, note: CreditNote) -> CreditNoteView:
        return cls(
            note.number,
            note.invoice_id,
            note.amount_cents,
            note.currency,
            note.reason,
            tuple(note.lines),
            note.created_at,
        )


async def credit_notes_of(deps: Deps, user_id: str, limit: int) -> list[CreditNoteView]:
    """What was given back to the user, note by note (refunds, unused time, proration)."""
    check_user_id(user_id)
    check_first(limit)
    async with deps.uow() as uow:
        return [CreditNoteView.of(note) for note in await uow.credits.notes_of(user_id, limit)]


@dataclass(frozen=True)
class RefundView:
    id: uuid.UUID
    payment_id: uuid.UUID
    invoice_id: uuid.UUID
    amount_cents: int
    currency: str
    status: RefundStatus
    reason: str
    to_credit_balance: bool
    credit_note: CreditNoteView | None
    created_at: datetime


def _view(refund: Refund, note: CreditNote | None) -> RefundView:
    return RefundView(
        refund.id,
        refund.payment_id,
        refund.invoice_id,
        refund.amount_cents,
        refund.currency,
        refund.status,
        refund.reason,
        refund.to_credit_balance,
        CreditNoteView.of(note) if note else None,
        refund.created_at,
    )


def _payment_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise DomainError(ErrorCode.NOT_FOUND, "no such payment", "paymentId") from exc


async def refund_payment(deps: Deps, admin_id: str, cmd: RefundPayment) -> RefundView:
    key = check_key(cmd.idempotency_key)
    reason = check_text(cmd.reason, "reason", MAX_REASON, required=True)
    payment_id = _payment_id(cmd.payment_id)
    now = deps.clock.now()
    async with deps.uow() as uow:
        # The user first, then the payment row: the order every other writer takes.
        await uow.subscriptions.lock_users(await uow.billing.payment_owners({payment_id}, ()))
        payment = await uow.credits.payment_for_update(payment_id)
        if payment is None:
            raise DomainError(ErrorCode.NOT_FOUND, "no such payment", "paymentId")
        if key is not None:
            earlier = await uow.credits.refund_by_key(key)
            if earlier is not None:
                return await _replayed(uow, earlier, cmd, payment_id)
        if payment.status_literal is not PaymentStatus.SUCCESS or payment.invoice_id is None:
            raise DomainError(
                ErrorCode.PAYMENT_NOT_REFUNDABLE,
                f"a {payment.status_literal.value} payment has nothing to refund",
                "paymentId",
            )
        invoice = await uow.credits.invoice_for_update(payment.invoice_id)
        assert invoice is not None
        # Never past the payment, nor past what its invoice has left after unused time
        # and other refunds went back against it (docs/money.md).
        refundable = min(
            refundable_cents(payment.amount_cents, await uow.credits.refunded_cents(payment.id)),
            await returns.returnable(uow, invoice),
        )
        amount = cmd.amount_cents if cmd.amount_cents is not None else refundable
        check_refund(amount, refundable, credited_cents=invoice.amount_credited_cents)
        refund = Refund(
            id=uuid.uuid4(),
            payment_id=payment.id,
            invoice_id=payment.invoice_id,
            user_id=payment.owner_id,
            amount_cents=amount,
            currency=payment.currency,
            reason=reason,
            to_credit_balance=cmd.to_credit_balance,
            status=RefundStatus.PENDING,
            idempotency_key=key,
            created_by=admin_id,
            created_at=now,
            updated_at=now,
        )
        uow.credits.add(refund)
        await uow.session.flush()
        if cmd.to_credit_balance:
            note = f"refund of {amount} to the credit balance: {reason}"
            await credit(
                uow,
                payment.owner_id,
                amount,
                payment.currency,
                CreditKind.REFUND,
                note,
                admin_id,
                now,
                invoice_id=payment.invoice_id,
            )
            refund.status = RefundStatus.SUCCEEDED
        else:
            await _refund_at_processor(deps, payment, refund)
        uow.record(refund_created(refund, now))
        issued = (
            await settle_refund(uow, refund, now)
            if refund.status is RefundStatus.SUCCEEDED
            else None
        )
        await uow.commit()
        return _view(refund, issued)


async def _refund_at_processor(deps: Deps, payment: Payment, refund: Refund) -> None:
    if not payment.payment_id:  # a zero charge, or a processor that never answered
        raise DomainError(
            ErrorCode.PAYMENT_NOT_REFUNDABLE,
            "the processor holds no charge for this payment: refund to the credit balance",
            "paymentId",
        )
    request = RefundRequest(
        processor_payment_id=payment.payment_id,
        amount_cents=refund.amount_cents,
        currency=payment.currency,
        idempotency_key=idempotency_key(str(refund.id), "refund"),
        metadata={"refund_id": str(refund.id), "payment_id": str(payment.id)},
    )
    try:
        result = await deps.gateway.refund(request)
    except RefundsUnsupported as exc:
        raise DomainError(
            ErrorCode.PAYMENT_NOT_REFUNDABLE,
            "this payment processor takes no refunds from us: refund to the credit balance",
            "toCreditBalance",
        ) from exc
    except GatewayUnavailable as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc
    refund.processor_refund_id = result.processor_refund_id
    if result.succeeded is not None:
        refund.status = RefundStatus.SUCCEEDED if result.succeeded else RefundStatus.FAILED


async def settle_refund(uow: UnitOfWork, refund: Refund, now: datetime) -> CreditNote:
    """A refund went through: the invoice shows it and a credit note records it."""
    invoice = await uow.credits.invoice_for_update(refund.invoice_id)
    assert invoice is not None
    invoice.amount_refunded_cents += refund.amount_cents
    note = CreditNote(
        id=uuid.uuid4(),
        number=await uow.billing.next_credit_note_number(),
        kind=CreditNoteKind.REFUND,
        invoice_id=invoice.id,
        refund_id=refund.id,
        user_id=refund.user_id,
        amount_cents=refund.amount_cents,
        currency=refund.currency,
        reason=refund.reason,
        lines=[_note_line(invoice, refund)],
        created_at=now,
    )
    uow.credits.add(note)
    uow.record(returns.credit_note_issued(note, invoice, now))
    return note


def _note_line(invoice: Invoice, refund: Refund) -> dict[str, Any]:
    where = "to the credit balance" if refund.to_credit_balance else "to the original payment"
    return {
        "description": f"Refund on invoice {invoice.number} {where}",
        "amountCents": -refund.amount_cents,
    }


def refund_created(refund: Refund, now: datetime) -> DomainEvent:
    data = {
        "refundId": str(refund.id),
        "paymentId": str(refund.payment_id),
        "invoiceId": str(refund.invoice_id),
        "userId": refund.user_id,
        "amountCents": refund.amount_cents,
        "currency": refund.currency,
        "status": refund.status.value,
        "toCreditBalance": refund.to_credit_balance,
        "reason": refund.reason,
    }
    return DomainEvent(events.REFUND_CREATED, refund.user_id, data, now)


async def _replayed(
    uow: UnitOfWork, earlier: Refund, cmd: RefundPayment, payment_id: uuid.UUID
) -> RefundView:
    same = earlier.payment_id == payment_id and (
        cmd.amount_cents is None or cmd.amount_cents == earlier.amount_cents
    )
    if not same or earlier.to_credit_balance != cmd.to_credit_balance:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was used for a different refund",
            "idempotencyKey",
        )
    return _view(earlier, await uow.credits.credit_note_of(earlier.id))


@dataclass(frozen=True)
class PaymentRecordView:
    id: uuid.UUID
    purpose: PaymentPurpose
    status: PaymentStatus
    amount_cents: int
    amount_refunded_cents: int
    currency: str
    invoice_number: str | None
    created_at: datetime


async def payments_of(deps: Deps, user_id: str, first: int) -> list[PaymentRecordView]:
    """A user's payments for support (admin), newest first, with what was refunded."""
    check_user_id(user_id)
    check_first(first)
    async with deps.uow() as uow:
        found = []
        for payment, number in await uow.billing.payments_of(user_id, first):
            refunded = await uow.credits.refunded_cents(payment.id)
            found.append(
                PaymentRecordView(
                    payment.id,
                    payment.purpose,
                    payment.status_literal,
                    payment.amount_cents,
                    refunded,
                    payment.currency,
                    number,
                    payment.created_at,
                )
            )
        return found
