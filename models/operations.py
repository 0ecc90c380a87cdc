"""What operators watch: each worker loop's last heartbeat, and the test clock's offset."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


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
