from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSON, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import USER_ID, Base, server_now


class OutboxEvent(Base):
    """Events written in the same transaction as the change they describe; a relay
    publishes them in id order. Each row is also the event log's entry: a sequencer
    gives it its `position` soon after it commits (services/store/messaging.py), and it
    is kept for EVENT_RETENTION_DAYS."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        # The relay's per-key ordering check: the oldest unpublished event of a key.
        Index(
            "ix_outbox_unpublished_key", "key", "id", postgresql_where=text("published_at IS NULL")
        ),
        # Pruning; new (unpublished) events stay out of it.
        Index(
            "ix_outbox_published_at",
            "published_at",
            postgresql_where=text("published_at IS NOT NULL"),
        ),
        # The event log: rows waiting for a position, and the log read by position,
        # by user and by time (of those, an insert touches only the first).
        Index("ix_outbox_unsequenced", "id", postgresql_where=text("position IS NULL")),
        Index(
            "uq_outbox_position",
            "position",
            unique=True,
            postgresql_where=text("position IS NOT NULL"),
        ),
        Index(
            "ix_outbox_key_position",
            "key",
            "position",
            postgresql_where=text("position IS NOT NULL"),
        ),
        Index(
            "ix_outbox_time_position",
            "created_at",
            "position",
            postgresql_where=text("position IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(USER_ID)
    event_type: Mapped[str] = mapped_column(String(128))
    # json, not jsonb: the text as the service serialized it, which the relay sends.
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    position: Mapped[int | None] = mapped_column(BigInteger)  # in the event log


class ProcessedMessage(Base):
    """Inbox: a message id (a Stripe event id, a Kafka message id) recorded in the
    transaction that applied its effect, with what came in and what it did."""

    __tablename__ = "processed_messages"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    message_type: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime] = server_now()


class IdempotencyKey(Base):
    """The first result of a charging mutation, replayed for a repeated key."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime]


class Broadcast(Base):
    """A notification for every user the service knows (a new price), sent in batches
    with a keyset cursor so a worker that dies half-way resumes where it stopped."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_pending", "created_at", postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cursor: Mapped[str | None] = mapped_column(USER_ID)  # last user notified
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
