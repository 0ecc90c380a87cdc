"""SQL for broadcasts and the audience they reach."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from models import Broadcast, PaymentCustomer, Subscription


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, broadcast: Broadcast) -> None:
        self.session.add(broadcast)

    async def claim_pending(self) -> Broadcast | None:
        query = (
            select(Broadcast)
            .where(Broadcast.finished_at.is_(None))
            .order_by(Broadcast.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return await self.session.scalar(query)

    async def known_users_after(self, cursor: str | None, limit: int) -> Sequence[str]:
        """Every user the service has seen (a subscription or a payment customer), in
        user id order after `cursor`. Each side stops at `limit` rows on its index, so
        a batch costs the same at the start and at the end of millions of users."""
        parts = []
        for column in (Subscription.user_id, PaymentCustomer.user_id):
            part = select(column.label("user_id")).distinct().order_by(column).limit(limit)
            if cursor is not None:
                part = part.where(column > cursor)
            parts.append(part.subquery().select())
        merged = union(*parts).subquery()
        query = select(merged.c.user_id).order_by(merged.c.user_id).limit(limit)
        return (await self.session.scalars(query)).all()
