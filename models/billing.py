from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import USER_ID, Base, enum_column, server_now, uuid_pk
from models.catalog import Plan
from models.subscription import Subscription
from services.billing.rules import InvoiceStatus, LineKind, PaymentPurpose, PaymentStatus


class InvoiceCounter(Base):
    """Gapless invoice numbers: the row is locked and bumped in the invoice's transaction."""

    __tablename__ = "invoice_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index(None, "user_id", "created_at", "id"),
        Index(None, "subscription_id", "created_at"),
        CheckConstraint("num_nonnulls(subscription_id, quota_pack_id) = 1", name="one_order"),
        CheckConstraint(
            "amount_refunded_cents >= 0 AND amount_refunded_cents <= amount_paid_cents",
            name="refunded_within_paid",
        ),
        # Nothing goes back past what paid for it (docs/money.md: one rule for returns).
        CheckConstraint(
            "amount_credited_cents >= 0 AND credit_applied_cents >= 0 AND amount_refunded_cents"
            " + amount_credited_cents <= amount_paid_cents + credit_applied_cents",
            name="returns_within_paid",
        ),
        Index("ix_invoices_created_at_id", "created_at", "id"),  # everyone's, newest first
        Index(
            "ix_invoices_open_subscription",
            "subscription_id",
            "period_start",
            postgresql_where=text("status = 'OPEN'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str] = mapped_column(USER_ID)
    # What it bills: a subscription's period, or a quota pack bought once.
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    quota_pack_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quota_packs.id"))
    status: Mapped[InvoiceStatus] = mapped_column(enum_column(InvoiceStatus, "invoice_status"))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int]
    amount_paid_cents: Mapped[int] = mapped_column(default=0)
    amount_refunded_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    # Paid without the card: the credit balance (CREDIT lines) and an earlier invoice's
    # unused time moved over by an upgrade (PRORATION_CREDIT lines), as positive cents.
    credit_applied_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Unused time given back against this invoice (credit notes of kind UNUSED_TIME and
    # PRORATION that are not void); `time_credited_at` is when its time stopped counting.
    amount_credited_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    time_credited_at: Mapped[datetime | None]
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    subscription: Mapped[Subscription | None] = relationship(lazy="raise")
    lines: Mapped[list[InvoiceLine]] = relationship(
        lazy="raise", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (Index(None, "invoice_id", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # Deferrable: bulk renewals write lines before their invoices (numbered last).
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("invoices.id", deferrable=True, initially="IMMEDIATE")
    )
    position: Mapped[int]
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind, "invoice_line_kind"))
    description: Mapped[str] = mapped_column(Text)
    amount_cents: Mapped[int]  # negative for credits
    plan_code: Mapped[str | None] = mapped_column(String(64))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]


class Payment(Base):
    """One payment attempt (seed: sys_subscriptionPayment)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        CheckConstraint("num_nonnulls(order_id, quota_pack_id) = 1", name="one_order"),
        Index(None, "owner_id", "created_at"),
        Index(None, "order_id", "created_at"),
        Index(None, "payment_id"),
        # The reconciler's charges still waiting on the processor: a success never enters.
        Index(
            "ix_payments_unsettled",
            "platform",
            "created_at",
            postgresql_where=text("status_literal = 'started'"),
        ),
        # Each collection attempt for a period happens once...
        Index(
            "uq_payments_period_attempt",
            "order_id",
            "period_start",
            "attempt",
            unique=True,
            postgresql_where=text("purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"),
        ),
        # ...and a period is paid for at most once: no double renewal, whatever the code does.
        Index(
            "uq_payments_period_paid",
            "order_id",
            "period_start",
            unique=True,
            postgresql_where=text(
                "status_literal = 'success' AND purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"
            ),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[str] = mapped_column(USER_ID)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    quota_pack_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quota_packs.id"))
    # Deferrable: bulk renewals write payments before their invoices (numbered last).
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoices.id", deferrable=True, initially="IMMEDIATE")
    )
    purpose: Mapped[PaymentPurpose] = mapped_column(enum_column(PaymentPurpose, "payment_purpose"))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    payment_id: Mapped[str | None] = mapped_column(String(255))  # processor's id
    payment_status: Mapped[str] = mapped_column(String(64), default="default")  # processor's
    status_literal: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus, "payment_status_literal")
    )
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    period_start: Mapped[datetime | None]  # the period a renewal-type charge pays for
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    target_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))  # upgrades
    processor_event_at: Mapped[datetime | None]  # newest processor event applied
    redirect_url: Mapped[str | None] = mapped_column(Text)
    client_secret: Mapped[str | None] = mapped_column(Text)
    failure_message: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    subscription: Mapped[Subscription | None] = relationship(lazy="raise")


class PaymentCustomer(Base):
    """The user's customer record at the processor (seed: sys_paymentCustomer)."""

    __tablename__ = "payment_customers"

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[str] = mapped_column(USER_ID, unique=True)
    customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = server_now()


class PaymentMethod(Base):
    """A saved method: processor ids and display data only, never card numbers
    (seed: sys_paymentMethod)."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        Index(
            "uq_payment_methods_default_user",
            "user_id",
            unique=True,
            postgresql_where=text("is_default AND is_active"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    payment_method_id: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[str] = mapped_column(USER_ID)
    customer_id: Mapped[str] = mapped_column(String(255))
    card_holder_name: Mapped[str | None] = mapped_column(String(200))
    card_holder_zip: Mapped[str | None] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    card_info: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = server_now()


class ChargeDeferral(Base):
    """A due charge the gateway could not take (unreachable, past its deadline): the
    renewal waits in this queue with backoff instead of being treated as a decline."""

    __tablename__ = "charge_deferrals"
    __table_args__ = (Index("ix_charge_deferrals_next_attempt_at", "next_attempt_at"),)

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(USER_ID)
    attempts: Mapped[int]
    first_deferred_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(String(255))


class CheckoutSession(Base):
    """A hosted checkout a frontend redirects to (seed 003's redirectUrl): our own page
    with the local gateway, a Stripe Checkout Session with Stripe."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[str] = mapped_column(USER_ID)
    purpose: Mapped[str] = mapped_column(String(16))  # SUBSCRIBE, or ADD_CARD (no plan)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    success_url: Mapped[str] = mapped_column(Text)
    cancel_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # OPEN, COMPLETED, EXPIRED
    platform: Mapped[str] = mapped_column(String(32))
    processor_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    url: Mapped[str] = mapped_column(Text)
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    plan: Mapped[Plan | None] = relationship(lazy="raise")
