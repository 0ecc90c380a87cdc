"""What operators watch and control: each worker loop's last heartbeat, the global test
clock's offset, and the test clocks customers are attached to."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import USER_ID, Base, server_now, uuid_pk


class WorkerHeartbeat(Base):
    """A worker loop's last finished round, so an API process can tell a stalled or
    missing worker (the worker may run in another process or on another host)."""

    __tablename__ = "worker_heartbeats"

    loop: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(255), primary_key=True)  # host:pid
    beat_at: Mapped[datetime]


class ClockOffset(Base):
    """The test clock's offset from real time (one row), so a restart keeps the time
    the rows in the database were written at."""

    __tablename__ = "test_clock"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    offset_microseconds: Mapped[int] = mapped_column(BigInteger)


class TestClock(Base):
    """A clock of its own for the customers attached to it (TEST_CLOCK=1 only). It stands
    still at `now` until advanced; `advancing_to` is set while an advance runs, so a
    process that dies mid-advance leaves the work to whoever resumes it."""

    __tablename__ = "test_clocks"
    __table_args__ = (
        CheckConstraint("status IN ('READY', 'ADVANCING')", name="status"),
        CheckConstraint(
            "(status = 'ADVANCING') = (advancing_to IS NOT NULL)", name="advancing_has_target"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    now: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="READY")
    advancing_to: Mapped[datetime | None]
    created_at: Mapped[datetime] = server_now()


class TestClockCustomer(Base):
    """A customer whose time is a test clock's: one clock per customer."""

    __tablename__ = "test_clock_customers"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    test_clock_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("test_clocks.id", ondelete="CASCADE"), index=True
    )
    attached_at: Mapped[datetime] = server_now()


class RetiredNumber(Base):
    """An invoice or credit-note number whose document was deleted with a test clock's
    customers: the numbering stays accountable (the audit counts it as issued)."""

    __tablename__ = "retired_numbers"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(255))
    retired_at: Mapped[datetime]
