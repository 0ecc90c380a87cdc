"""Stripe's refund webhooks (`refund.created`, `refund.updated`, `charge.refunded`),
applied once each (the inbox): a pending refund of ours settles or fails, and a refund
made in Stripe's dashboard appears here with its credit note, as if made through us."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from models import Refund
from services.collection.payment_results import PaymentResultMessage, ResultOutcome
from services.credits import returns
from services.credits.refunds import refund_created, settle_refund
from services.credits.rules import RefundStatus, refundable_cents
from services.platform.deps import Deps
from services.platform.uow import UnitOfWork
from services.store.messaging import InboxRecord

log = logging.getLogger(__name__)
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "charge.refunded"})
DASHBOARD_REASON = "refunded in Stripe"


def refund_objects(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The refunds an event reports: its object, or a charge's expanded refunds."""
    obj = event.get("data", {}).get("object", {})
    if obj.get("object") == "refund":
        return [obj]
    if obj.get("object") == "charge":
        listed = (obj.get("refunds") or {}).get("data") or []
        return [r for r in listed if isinstance(r, dict)]
    return []


def _fields(obj: dict[str, Any]) -> tuple[str, str, str, int] | None:
    rid, intent, status, amount = (obj.get(k) for k in ("id", "payment_intent", "status", "amount"))
    if not all(isinstance(v, str) and v for v in (rid, intent, status)):
        return None
    if not isinstance(amount, int) or amount <= 0:
        return None
    return rid, intent, status, amount  # type: ignore[return-value]


async def apply_refund_event(deps: Deps, message: PaymentResultMessage) -> ResultOutcome:
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = InboxRecord(message.source, message.message_id, message.message_type, None)
        if not await uow.messaging.record_messages([record], now):
            return ResultOutcome.DUPLICATE
        outcome = ResultOutcome.IGNORED
        for obj in refund_objects(message.payload or {}):
            fields = _fields(obj)
            if fields is not None and await _reconcile(uow, obj, *fields, now=now):
                outcome = ResultOutcome.APPLIED
            elif outcome is ResultOutcome.IGNORED:
                outcome = ResultOutcome.UNKNOWN_PAYMENT
        await uow.messaging.set_outcomes([(message.source, message.message_id, outcome.value)])
        await uow.commit()
        return outcome


async def _reconcile(
    uow: UnitOfWork,
    obj: dict[str, Any],
    refund_id: str,
    intent: str,
    status: str,
    amount: int,
    *,
    now: Any,
) -> bool:
    # The user first, then the rows (the payment's owner is read without a lock).
    await uow.subscriptions.lock_users(await uow.billing.payment_owners((), {intent}))
    refund = await uow.credits.refund_by_processor_id(refund_id) or await _ours(uow, obj)
    if refund is None:
        refund = await _from_dashboard(uow, refund_id, intent, amount, now)
        if refund is None:
            return False
    if refund.status is not RefundStatus.PENDING:
        return True  # settled before: a refund's outcome is applied once
    if status == "succeeded":
        refund.status, refund.updated_at = RefundStatus.SUCCEEDED, now
        await settle_refund(uow, refund, now)
    elif status in ("failed", "canceled"):
        refund.status, refund.updated_at = RefundStatus.FAILED, now
    return True


async def _ours(uow: UnitOfWork, obj: dict[str, Any]) -> Refund | None:
    """A refund we asked for whose processor id is not stored yet (the webhook raced
    our own commit): found by the id we put in its metadata."""
    raw = (obj.get("metadata") or {}).get("refund_id")
    try:
        ours = uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return await uow.session.get(Refund, ours, with_for_update=True) if ours else None


async def _from_dashboard(
    uow: UnitOfWork, refund_id: str, intent: str, amount: int, now: Any
) -> Refund | None:
    found = await uow.billing.payments_for_update((), {intent})
    payment = found[0] if found else None
    if payment is None or payment.invoice_id is None:
        return None
    invoice = await uow.credits.invoice_for_update(payment.invoice_id)
    assert invoice is not None
    refundable = min(
        refundable_cents(payment.amount_cents, await uow.credits.refunded_cents(payment.id)),
        await returns.returnable(uow, invoice),
    )
    if amount > refundable:
        log.error("Stripe refunded %s on %s, more than the %s we hold", amount, intent, refundable)
        return None
    refund = Refund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        invoice_id=payment.invoice_id,
        user_id=payment.owner_id,
        amount_cents=amount,
        currency=payment.currency,
        reason=DASHBOARD_REASON,
        to_credit_balance=False,
        status=RefundStatus.PENDING,
        processor_refund_id=refund_id,
        idempotency_key=None,
        created_by="stripe",
        created_at=now,
        updated_at=now,
    )
    uow.credits.add(refund)
    await uow.session.flush()
    uow.record(refund_created(refund, now))
    return refund
