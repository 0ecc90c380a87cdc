from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import USER_ID, Base, enum_column, server_now, uuid_pk
from models.catalog import CustomerPrice, Plan
from services.subscriptions.state import PaymentConfirmation, Status


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(
            "(scheduled_price_cents IS NULL) = (scheduled_price_at IS NULL)"
            " AND coalesce(scheduled_price_cents, 0) >= 0 AND coalesce(price_cents, 0) >= 0",
            name="scheduled_price",
        ),
        # One current subscription per user; ended ones (is_current false) stay as history.
        Index(
            "uq_subscriptions_current_user",
            "user_id",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        # One trial per user, ever.
        Index(
            "uq_subscriptions_trial_user",
            "user_id",
            unique=True,
            postgresql_where=text("trial_start IS NOT NULL"),
        ),
        Index(None, "user_id", "created_at"),
        # Admin listing (newest first, keyset) with optional status / plan filters.
        Index(None, "created_at", "id"),
        Index(None, "status", "created_at", "id"),
        Index(None, "plan_id", "created_at", "id"),
        # Scheduler: due work by period end / grace end among current subscriptions.
        Index(
            "ix_subscriptions_due_period",
            "current_period_end",
            postgresql_where=text("is_current AND status IN ('TRIALING', 'ACTIVE', 'CANCELED')"),
        ),
        Index(
            "ix_subscriptions_due_grace",
            "grace_expires_at",
            postgresql_where=text("status = 'PAST_DUE'"),
        ),
        Index(
            "ix_subscriptions_due_retry",
            "next_retry_at",
            postgresql_where=text("status = 'PAST_DUE'"),
        ),
        Index(
            "ix_subscriptions_due_checkout",
            "status_updated_at",
            postgresql_where=text("status = 'PENDING'"),
        ),
        Index(
            "ix_subscriptions_due_resume",
            "resumes_at",
            postgresql_where=text("status = 'PAUSED'"),
        ),
        Index(
            "ix_subscriptions_due_trial_reminder",
            "trial_end",
            postgresql_where=text("status = 'TRIALING' AND trial_reminder_sent_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[str] = mapped_column(USER_ID)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    pending_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[Status] = mapped_column(enum_column(Status, "subscription_status"))
    payment_confirmation: Mapped[PaymentConfirmation] = mapped_column(
        enum_column(PaymentConfirmation, "payment_confirmation")
    )
    is_current: Mapped[bool]
    billing_cycle_anchor: Mapped[datetime | None]
    current_period_start: Mapped[datetime | None]
    current_period_end: Mapped[datetime | None]
    trial_start: Mapped[datetime | None]
    trial_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    activated_at: Mapped[datetime | None]
    grace_expires_at: Mapped[datetime | None]
    next_retry_at: Mapped[datetime | None]
    retry_count: Mapped[int] = mapped_column(default=0, server_default="0")
    trial_reminder_sent_at: Mapped[datetime | None]
    resumes_at: Mapped[datetime | None]  # a paused subscription resumes by itself then
    status_before_suspension: Mapped[Status | None] = mapped_column(
        enum_column(Status, "subscription_status_before_suspension")
    )
    status_updated_at: Mapped[datetime]
    price_paid_cents: Mapped[int] = mapped_column(default=0)
    # Its own price: what its invoices charge before discounts and usage, whatever the
    # plan costs new subscribers now (NULL only for rows written outside the service:
    # they follow the plan). A price change it was moved to applies to its first
    # invoice on or after `scheduled_price_at` (pricing.rules.price_for_period).
    price_cents: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_price_at: Mapped[datetime | None]
    currency: Mapped[str] = mapped_column(String(3))
    fulfillment: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payment_processor: Mapped[str] = mapped_column(String(32))
    processor_subscription_id: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = server_now()
    updated_at: Mapped[datetime] = server_now()

    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id], lazy="raise")
    pending_plan: Mapped[Plan | None] = relationship(foreign_keys=[pending_plan_id], lazy="raise")
    # The customer's own price on the plan it is on, if an admin set one (read-only).
    price_override: Mapped[CustomerPrice | None] = relationship(
        primaryjoin="and_(Subscription.user_id == foreign(CustomerPrice.user_id),"
        " Subscription.plan_id == foreign(CustomerPrice.plan_id))",
        viewonly=True,
        uselist=False,
        lazy="raise",
    )


class SubscriptionHistory(Base):
    """One row per transition: from, to, why, who, when."""

    __tablename__ = "subscription_history"
    # Read by subscription (a user's history is their subscriptions'); the pauses alone by
    # the console's MRR, which keeps paused subscriptions in it.
    __table_args__ = (
        Index(None, "subscription_id", "occurred_at"),
        Index(
            "ix_subscription_history_pauses",
            "occurred_at",
            postgresql_where=text("to_status = 'PAUSED'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"))
    user_id: Mapped[str] = mapped_column(USER_ID)
    from_status: Mapped[Status | None] = mapped_column(enum_column(Status, "history_from_status"))
    to_status: Mapped[Status] = mapped_column(enum_column(Status, "history_to_status"))
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(USER_ID)
    occurred_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    # Declared so the unit of work inserts the subscription before its history.
    subscription: Mapped[Subscription] = relationship(lazy="raise")
