"""Coupons (what comes off), promotion codes (what customers type to get a coupon),
and the discount a subscription carries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import USER_ID, Base, enum_column, uuid_pk
from services.discounts.rules import Duration


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("num_nonnulls(percent_off, amount_off_cents) = 1", name="one_kind"),
        CheckConstraint("percent_off IS NULL OR percent_off BETWEEN 1 AND 100", name="percent"),
        CheckConstraint("amount_off_cents IS NULL OR amount_off_cents > 0", name="amount"),
        CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions", name="redemptions"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    percent_off: Mapped[int | None]
    amount_off_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[Duration] = mapped_column(enum_column(Duration, "coupon_duration"))
    duration_in_cycles: Mapped[int | None]
    applies_to_plans: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    max_redemptions: Mapped[int | None]
    # Redemptions one customer may make across all their subscriptions (None: no limit).
    max_redemptions_per_customer: Mapped[int | None] = mapped_column(default=1, server_default="1")
    times_redeemed: Mapped[int] = mapped_column(default=0)
    redeem_by: Mapped[datetime | None]
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class PromotionCode(Base):
    __tablename__ = "promotion_codes"
    __table_args__ = (
        CheckConstraint(
            "max_redemptions IS NULL OR times_redeemed <= max_redemptions", name="redemptions"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(64), unique=True)  # stored upper case
    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id"))
    max_redemptions: Mapped[int | None]
    times_redeemed: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    first_time_only: Mapped[bool]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    coupon: Mapped[Coupon] = relationship(lazy="raise")


class SubscriptionDiscount(Base):
    """A redemption: the coupon a subscription carries and how many more invoices it
    covers. A discount that ran its course (`cycles_left` 0) stays as the record of its
    redemption; a subscription carries at most one live discount."""

    __tablename__ = "subscription_discounts"
    __table_args__ = (
        CheckConstraint("cycles_left IS NULL OR cycles_left >= 0", name="cycles_left"),
        Index(
            "uq_subscription_discounts_live",
            "subscription_id",
            unique=True,
            postgresql_where=text("cycles_left IS DISTINCT FROM 0"),
        ),
        Index(None, "user_id", "coupon_id"),  # a customer's redemptions of a coupon
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"))
    user_id: Mapped[str] = mapped_column(USER_ID)
    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id"))
    promotion_code_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("promotion_codes.id"))
    cycles_left: Mapped[int | None]  # None: forever
    started_at: Mapped[datetime]

    coupon: Mapped[Coupon] = relationship(lazy="raise")
