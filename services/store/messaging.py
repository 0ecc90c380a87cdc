"""SQL for the outbox and the idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import IdempotencyKey, OutboxEvent, ProcessedMessage
from services.events import DomainEvent


class MessagingRepository:
    def __init__(self, session: AsyncSession, source: str) -> None:
        self.session = session
        self.source = source

    def add_outbox(self, event: DomainEvent, topic: str) -> OutboxEvent:
        envelope = event.envelope(self.source)
        row = OutboxEvent(
            event_id=envelope["id"],
            topic=topic,
            key=event.subject,
            event_type=event.type,
            envelope=envelope,
            created_at=event.occurred_at,
        )
        self.session.add(row)
        return row

    async def record_message(
        self,
        source: str,
        message_id: str,
        message_type: str | None,
        payload: dict[str, Any] | None,
        now: datetime,
    ) -> bool:
        """Put a message in the inbox; False if it was there already (a duplicate). A
        concurrent twin waits on the primary key until this transaction ends."""
        inserted = await self.session.scalar(
            insert(ProcessedMessage)
            .values(
                source=source,
                message_id=message_id,
                message_type=message_type,
                payload=payload,
                processed_at=now,
            )
            .on_conflict_do_nothing(index_elements=["source", "message_id"])
            .returning(ProcessedMessage.message_id)
        )
        return inserted is not None

    async def set_outcome(self, source: str, message_id: str, outcome: str) -> None:
        await self.session.execute(
            update(ProcessedMessage)
            .where(ProcessedMessage.source == source, ProcessedMessage.message_id == message_id)
            .values(outcome=outcome)
        )

    async def idempotency_key(self, user_id: str, key: str) -> IdempotencyKey | None:
        return await self.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )

    def remember(
        self,
        user_id: str,
        key: str,
        operation: str,
        request_hash: str,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        self.session.add(
            IdempotencyKey(
                user_id=user_id,
                key=key,
                operation=operation,
                request_hash=request_hash,
                response=response,
                created_at=now,
            )
        )
