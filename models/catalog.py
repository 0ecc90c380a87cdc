from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import USER_ID, Base, enum_column, server_now, uuid_pk
from services.pricing.periods import Interval
from services.pricing.rules import PlanKind


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("trial_days >= 0", name="trial_days_not_negative"),
        CheckConstraint("interval_count BETWEEN 1 AND 36", name="interval_count"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso"),
        CheckConstraint("valid_days IS NULL OR valid_days > 0", name="valid_days_positive"),
        CheckConstraint(
            "proration IN ('PRORATE', 'NONE', 'FULL_PERIOD')"
            " AND upgrade_timing IN ('IMMEDIATE', 'PERIOD_END')"
            " AND downgrade_timing IN ('IMMEDIATE', 'PERIOD_END')"
            " AND after_grace IN ('EXPIRE', 'CANCEL', 'PAUSE')"
            " AND grace_days BETWEEN 0 AND 60",
            name="policy",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[PlanKind] = mapped_column(enum_column(PlanKind, "plan_kind"))
    price_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[Interval] = mapped_column(enum_column(Interval, "billing_interval"))
    # A period is this many intervals: every 2 weeks, quarterly (MONTH x 3), ...
    interval_count: Mapped[int] = mapped_column(default=1, server_default="1")
    trial_days: Mapped[int]
    entitlements: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    grace_entitlements: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    tier_rank: Mapped[int]
    valid_days: Mapped[int | None]  # a QUOTA plan's packs expire this long after purchase
    # The lifecycle policy (services/pricing/policy.py); the defaults are the behaviour
    # from before policies, so plans nobody set one on behave as they always did.
    proration: Mapped[str] = mapped_column(String(16), default="PRORATE", server_default="PRORATE")
    upgrade_timing: Mapped[str] = mapped_column(
        String(16), default="IMMEDIATE", server_default="IMMEDIATE"
    )
    downgrade_timing: Mapped[str] = mapped_column(
        String(16), default="PERIOD_END", server_default="PERIOD_END"
    )
    retry_days: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), default=lambda: [1, 3, 5], server_default="{1,3,5}"
    )
    grace_days: Mapped[int] = mapped_column(default=7, server_default="7")
    after_grace: Mapped[str] = mapped_column(String(16), default="EXPIRE", server_default="EXPIRE")
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = server_now()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PricingRecord(Base):
    """Every price a plan has had: who set it, when, from what (seed: pricingConfig)."""

    __tablename__ = "pricing_records"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        Index(None, "plan_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)  # change order
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    price_cents: Mapped[int]
    previous_price_cents: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str | None] = mapped_column(Text)  # the admin's reason, never shown to customers
    # What happened to the plan's current subscribers: KEEP_PRICE, or MOVE_AT `move_at`.
    existing_subscribers: Mapped[str] = mapped_column(
        String(16), default="KEEP_PRICE", server_default="KEEP_PRICE"
    )
    move_at: Mapped[datetime | None]
    changed_by: Mapped[str] = mapped_column(USER_ID)
    changed_at: Mapped[datetime]
    is_active: Mapped[bool] = mapped_column(default=True)


class CustomerPrice(Base):
    """A customer's own price on a plan, set by an admin: their invoices on that plan
    charge it from the next one until `until` (null: open-ended), without a copy of the
    plan. It wins over the subscription's own price and a scheduled move."""

    __tablename__ = "customer_prices"
    __table_args__ = (CheckConstraint("price_cents >= 0", name="price_not_negative"),)

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(USER_ID)
    created_at: Mapped[datetime]
