"""SQL for the outbox and the idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import IdempotencyKey, OutboxEvent
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
