"""Meters, the units plans include of them, and usage: counters per user, meter and
period (updated by one guarded statement, never over a hard limit), and every event
that reached a counter, kept by its id so a replay answers as the first time did."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import USER_ID, Base, enum_column, uuid_pk
from models.catalog import Plan
from services.usage.rules import Aggregation, PackStatus


class Meter(Base):
    __tablename__ = "meters"

    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(64))
    aggregation: Mapped[Aggregation] = mapped_column(enum_column(Aggregation, "aggregation"))
    # The entitlement that unlocks it; none: any plan with a quota on it unlocks it.
    feature: Mapped[str | None] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class PlanQuota(Base):
    __tablename__ = "plan_quotas"
    __table_args__ = (
        CheckConstraint("included_units IS NULL OR included_units >= 0", name="included"),
        CheckConstraint("overage_unit_price_cents >= 0", name="overage_price"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    included_units: Mapped[int | None] = mapped_column(BigInteger)
    overage_unit_price_cents: Mapped[int]
    hard_limit: Mapped[bool]
    updated_at: Mapped[datetime]


class UsageCounter(Base):
    __tablename__ = "usage_counters"
    __table_args__ = (CheckConstraint("used >= 0", name="used_not_negative"),)

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    period_end: Mapped[datetime]
    used: Mapped[int] = mapped_column(BigInteger)
    # Of `used`, the units past the included ones that quota packs covered.
    pack_units: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class UsageEvent(Base):
    """An event by its id: what it asked and what it was answered."""

    __tablename__ = "usage_events"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    counted: Mapped[bool]
    answer: Mapped[dict[str, Any]] = mapped_column(JSONB)
    period_start: Mapped[datetime]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class UsageUniqueValue(Base):
    """Values a UNIQUE_COUNT meter has seen in a period (each counts once)."""

    __tablename__ = "usage_unique_values"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


class QuotaPack(Base):
    """A plan of kind QUOTA bought once: its units, per meter, join the user's balance
    once paid, and may expire."""

    __tablename__ = "quota_packs"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[str] = mapped_column(USER_ID)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PackStatus] = mapped_column(enum_column(PackStatus, "pack_status"))
    expires_at: Mapped[datetime | None]
    purchased_at: Mapped[datetime | None]  # when it was paid
    created_at: Mapped[datetime]

    plan: Mapped[Plan] = relationship(lazy="raise")
    units: Mapped[list[QuotaPackUnits]] = relationship(lazy="raise")


class QuotaPackUnits(Base):
    """A pack's units of one meter, and how many of them were drawn."""

    __tablename__ = "quota_pack_units"
    __table_args__ = (
        CheckConstraint("units > 0", name="units_positive"),
        CheckConstraint("used_units >= 0 AND used_units <= units", name="used_within"),
        Index(None, "user_id", "meter_id"),
    )

    pack_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quota_packs.id"), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(USER_ID)
    units: Mapped[int] = mapped_column(BigInteger)
    used_units: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool]  # paid and not expired by status (expiry is read from the pack)
    expires_at: Mapped[datetime | None]
