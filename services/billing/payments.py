"""Charging through the gateway, with a payment record and an invoice for every charge.

The gateway call happens inside the caller's transaction: if the processor cannot
be reached the whole use case rolls back and nothing changes. The invoice number is
drawn after the gateway answered, so the gapless counter is locked only briefly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import (
    Invoice,
    InvoiceLine,
    Payment,
    PaymentCustomer,
    PaymentMethod,
    QuotaPack,
    Subscription,
)
from services.billing.rules import (
    CREDIT_SOURCES,
    InvoiceStatus,
    Line,
    PaymentPurpose,
    PaymentStatus,
)
from services.common.errors import DomainError, ErrorCode
from services.gateway.base import (
    ChargeOutcome,
    ChargeRequest,
    ChargeResult,
    GatewayUnavailable,
    PaymentGateway,
    UnknownPaymentMethod,
)
from services.platform.uow import UnitOfWork

GATEWAY_DOWN_MESSAGE = "the payment provider cannot be reached; nothing was charged, try again"

_STATUS_OF = {
    ChargeOutcome.SUCCEEDED: PaymentStatus.SUCCESS,
    ChargeOutcome.DECLINED: PaymentStatus.FAILED,
    ChargeOutcome.CANCELED: PaymentStatus.CANCELED,
    ChargeOutcome.REQUIRES_ACTION: PaymentStatus.STARTED,
    ChargeOutcome.PROCESSING: PaymentStatus.STARTED,
}


def status_of_outcome(outcome: ChargeOutcome) -> PaymentStatus:
    """Our view of a payment from the processor's answer (seed 003's mapping)."""
    return _STATUS_OF[outcome]


RENEWAL_PURPOSES = frozenset(
    {PaymentPurpose.TRIAL_CONVERSION, PaymentPurpose.RENEWAL, PaymentPurpose.RETRY}
)


def invoice_status_after(outcome: ChargeOutcome, purpose: PaymentPurpose) -> InvoiceStatus:
    """Paid on success; open while action is needed, while grace collects a renewal, or
    when a final usage charge failed (the usage happened: it is owed); void when a
    checkout, an upgrade or a pack did not go through (nothing is owed)."""
    if outcome is ChargeOutcome.SUCCEEDED:
        return InvoiceStatus.PAID
    unsettled = outcome in (ChargeOutcome.REQUIRES_ACTION, ChargeOutcome.PROCESSING)
    if unsettled or purpose in RENEWAL_PURPOSES or purpose is PaymentPurpose.FINAL_USAGE:
        return InvoiceStatus.OPEN
    return InvoiceStatus.VOID


@dataclass(frozen=True)
class PaymentView:
    """What a client needs after a charge: the outcome, and how to finish it if needed."""

    status: PaymentStatus
    outcome: ChargeOutcome
    amount_cents: int
    currency: str
    invoice_number: str | None
    processor_payment_id: str | None
    client_secret: str | None
    failure_message: str | None
    id: uuid.UUID | None = None  # ours: what refunds name

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id) if self.id else None,
            "status": self.status.value,
            "outcome": self.outcome.value,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "invoice_number": self.invoice_number,
            "processor_payment_id": self.processor_payment_id,
            "client_secret": self.client_secret,
            "failure_message": self.failure_message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaymentView:
        return cls(
            status=PaymentStatus(data["status"]),
            outcome=ChargeOutcome(data["outcome"]),
            amount_cents=int(data["amount_cents"]),
            currency=str(data["currency"]),
            invoice_number=data["invoice_number"],
            processor_payment_id=data["processor_payment_id"],
            client_secret=data["client_secret"],
            failure_message=data["failure_message"],
            id=uuid.UUID(data["id"]) if data.get("id") else None,
        )


async def ensure_customer(uow: UnitOfWork, gateway: PaymentGateway, user_id: str) -> str:
    existing = await uow.billing.customer(user_id)
    if existing is not None:
        return existing.customer_id
    try:
        customer_id = await gateway.ensure_customer(user_id, None)
    except GatewayUnavailable as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc
    uow.billing.add(
        PaymentCustomer(user_id=user_id, customer_id=customer_id, platform=gateway.platform)
    )
    return customer_id


async def attach_method(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    user_id: str,
    payment_method_id: str,
    *,
    holder_name: str | None = None,
    holder_zip: str | None = None,
) -> PaymentMethod:
    """Save a processor payment method for the user; the first one becomes the default."""
    existing = await uow.billing.payment_method(payment_method_id)
    if existing is not None:
        if existing.user_id != user_id:  # never reveal another user's method
            raise DomainError(
                ErrorCode.PAYMENT_METHOD_NOT_FOUND, "unknown payment method", "paymentMethodId"
            )
        if existing.is_active:
            return existing
    customer_id = await ensure_customer(uow, gateway, user_id)
    try:
        attached = await gateway.attach_payment_method(customer_id, payment_method_id)
    except UnknownPaymentMethod as exc:
        raise DomainError(
            ErrorCode.PAYMENT_METHOD_NOT_FOUND, "unknown payment method", "paymentMethodId"
        ) from exc
    except GatewayUnavailable as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc
    has_default = await uow.billing.default_payment_method(user_id) is not None
    card = attached.card
    card_info = {
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
    }
    if existing is not None:  # re-attaching a detached method
        existing.is_active, existing.card_info = True, card_info
        existing.is_default = not has_default
        return existing
    method = PaymentMethod(
        payment_method_id=attached.payment_method_id,
        user_id=user_id,
        customer_id=customer_id,
        card_holder_name=holder_name,
        card_holder_zip=holder_zip,
        platform=gateway.platform,
        card_info=card_info,
        is_default=not has_default,
        is_active=True,
    )
    uow.billing.add(method)
    await uow.session.flush()
    return method


async def method_for_charge(
    uow: UnitOfWork, gateway: PaymentGateway, user_id: str, payment_method_id: str | None
) -> PaymentMethod:
    """The given method (attached on the fly) or the user's default."""
    if payment_method_id:
        return await attach_method(uow, gateway, user_id, payment_method_id)
    default = await uow.billing.default_payment_method(user_id)
    if default is None:
        raise DomainError(
            ErrorCode.PAYMENT_METHOD_REQUIRED,
            "add a payment method or pass paymentMethodId",
            "paymentMethodId",
        )
    return default


@dataclass(frozen=True)
class ChargeSpec:
    """One charge to make: who pays, for what, with which method, under which key. The
    order is a subscription (its periods, upgrades, final usage) or a quota pack."""

    order: Subscription | QuotaPack
    method: PaymentMethod
    purpose: PaymentPurpose
    lines: tuple[Line, ...]
    idempotency_key: str
    off_session: bool
    period_start: datetime | None = None
    attempt: int = 0
    target_plan_id: uuid.UUID | None = None
    invoice: Invoice | None = None  # an open invoice being collected again
    payment_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def amount_cents(self) -> int:
        if self.invoice is not None:
            return self.invoice.total_cents
        return sum(line.amount_cents for line in self.lines)


def _order_ids(order: Subscription | QuotaPack) -> dict[str, uuid.UUID | None]:
    if isinstance(order, QuotaPack):
        return {"subscription": None, "pack": order.id}
    return {"subscription": order.id, "pack": None}


def new_payment(spec: ChargeSpec, platform: str, now: datetime) -> Payment:
    if spec.amount_cents < 0:
        raise ValueError("a charge cannot be negative")
    ids = _order_ids(spec.order)
    return Payment(
        id=spec.payment_id,
        owner_id=spec.order.user_id,
        order_id=ids["subscription"],
        quota_pack_id=ids["pack"],
        purpose=spec.purpose,
        amount_cents=spec.amount_cents,
        currency=spec.order.currency,
        status_literal=PaymentStatus.STARTED,
        payment_method_id=spec.method.payment_method_id,
        idempotency_key=spec.idempotency_key,
        period_start=spec.period_start,
        attempt=spec.attempt,
        target_plan_id=spec.target_plan_id,
        platform=platform,
        created_at=now,
        updated_at=now,
    )


async def call_gateway(gateway: PaymentGateway, spec: ChargeSpec) -> ChargeResult:
    """Ask the processor; unreachable or unknown-method failures become typed errors."""
    order = spec.order
    order_key = "quota_pack_id" if isinstance(order, QuotaPack) else "subscription_id"
    request = ChargeRequest(
        customer_id=spec.method.customer_id,
        payment_method_id=spec.method.payment_method_id,
        amount_cents=spec.amount_cents,
        currency=order.currency,
        description=f"{spec.purpose.value.lower()} {order.plan.name}",
        idempotency_key=spec.idempotency_key,
        off_session=spec.off_session,
        metadata={
            "payment_id": str(spec.payment_id),
            order_key: str(order.id),
            "user_id": order.user_id,
            "purpose": spec.purpose.value,
        },
    )
    return await send_charge(gateway, request)


async def send_charge(gateway: PaymentGateway, request: ChargeRequest) -> ChargeResult:
    """One charge (nothing to charge: no processor call); unreachable or
    unknown-method failures become typed errors."""
    if request.amount_cents == 0:
        return ChargeResult(ChargeOutcome.SUCCEEDED, "", "no_charge_needed")
    try:
        return await gateway.charge(request)
    except GatewayUnavailable as exc:
        raise DomainError(ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE, GATEWAY_DOWN_MESSAGE) from exc
    except UnknownPaymentMethod as exc:
        raise DomainError(
            ErrorCode.PAYMENT_METHOD_NOT_FOUND, "unknown payment method", "paymentMethodId"
        ) from exc


def settle(
    uow: UnitOfWork,
    payment: Payment,
    spec: ChargeSpec,
    result: ChargeResult,
    now: datetime,
    invoice_number: str | None,
) -> PaymentView:
    """Record the processor's answer on the payment and its invoice (new or open)."""
    payment.payment_id = result.processor_payment_id or None
    payment.payment_status = result.processor_status
    payment.status_literal = status_of_outcome(result.outcome)
    payment.client_secret = result.client_secret
    payment.redirect_url = result.next_action_url
    payment.failure_message = result.failure_message
    status = invoice_status_after(result.outcome, spec.purpose)
    invoice = spec.invoice
    if invoice is None:
        assert invoice_number is not None
        invoice = build_invoice(spec.order, spec.lines, invoice_number, now)
        uow.billing.add(invoice)
    mark_invoice(invoice, status, now)
    payment.invoice_id = invoice.id
    return PaymentView(
        id=payment.id,
        status=payment.status_literal,
        outcome=result.outcome,
        amount_cents=spec.amount_cents,
        currency=spec.order.currency,
        invoice_number=invoice.number,
        processor_payment_id=payment.payment_id,
        client_secret=result.client_secret,
        failure_message=result.failure_message,
    )


async def charge(
    uow: UnitOfWork, gateway: PaymentGateway, spec: ChargeSpec, now: datetime
) -> tuple[PaymentView, ChargeResult]:
    """Charge one spec now: the attempt is recorded (flushed) before the processor is
    called, and the invoice number drawn after it answered."""
    payment = new_payment(spec, gateway.platform, now)
    uow.billing.add(payment)
    await uow.session.flush()
    result = await call_gateway(gateway, spec)
    number = await uow.billing.next_invoice_number() if spec.invoice is None else None
    view = settle(uow, payment, spec, result, now, number)
    await uow.session.flush()
    return view, result


def mark_invoice(invoice: Invoice, status: InvoiceStatus, now: datetime) -> None:
    invoice.status = status
    if status is InvoiceStatus.PAID:
        invoice.amount_paid_cents = invoice.total_cents
        invoice.paid_at = now


def build_invoice(
    order: Subscription | QuotaPack, lines: Sequence[Line], number: str, now: datetime
) -> Invoice:
    total = sum(line.amount_cents for line in lines)
    starts = [line.period_start for line in lines if line.period_start]
    ends = [line.period_end for line in lines if line.period_end]
    return Invoice(
        id=uuid.uuid4(),
        number=number,
        user_id=order.user_id,
        subscription_id=_order_ids(order)["subscription"],
        quota_pack_id=_order_ids(order)["pack"],
        status=InvoiceStatus.OPEN,
        currency=order.currency,
        total_cents=total,
        amount_paid_cents=0,
        credit_applied_cents=-sum(
            line.amount_cents for line in lines if line.kind in CREDIT_SOURCES
        ),
        period_start=min(starts) if starts else None,
        period_end=max(ends) if ends else None,
        paid_at=None,
        created_at=now,
        lines=[
            InvoiceLine(
                position=position,
                kind=line.kind,
                description=line.description,
                amount_cents=line.amount_cents,
                plan_code=line.plan_code,
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for position, line in enumerate(lines)
        ],
    )
