"""SQL for the credit balance and its ledger, refunds and credit notes. The balance row
is locked before it moves, so concurrent credits and spends line up."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from models import CreditBalance, CreditEntry, CreditNote, Invoice, Payment, Refund
from services.credits.rules import RefundStatus


class CreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: CreditEntry | Refund | CreditNote) -> None:
        self.session.add(row)

    async def balance_for_update(self, user_id: str, currency: str, now: datetime) -> CreditBalance:
        """The user's balance row, created at zero on first use, locked."""
        await self.session.execute(
            insert(CreditBalance)
            .values(user_id=user_id, currency=currency, balance_cents=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
        found = await self.session.scalar(
            select(CreditBalance)
            .where(CreditBalance.user_id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert found is not None
        return found

    async def balances_for_update(self, user_ids: Collection[str]) -> dict[str, CreditBalance]:
        """Existing positive balances of these users, locked (in user id order)."""
        if not user_ids:
            return {}
        query = (
            select(CreditBalance)
            .where(CreditBalance.user_id.in_(user_ids), CreditBalance.balance_cents > 0)
            .order_by(CreditBalance.user_id)
            .with_for_update()
        )
        return {row.user_id: row for row in await self.session.scalars(query)}

    async def balance(self, user_id: str) -> CreditBalance | None:
        return await self.session.get(CreditBalance, user_id)

    async def entries(self, user_id: str, limit: int, before: int | None) -> Sequence[CreditEntry]:
        query = select(CreditEntry).where(CreditEntry.user_id == user_id)
        if before is not None:
            query = query.where(CreditEntry.id < before)
        query = query.order_by(CreditEntry.id.desc()).limit(limit)
        return (await self.session.scalars(query)).all()

    async def payment_for_update(self, payment_id: uuid.UUID) -> Payment | None:
        return await self.session.scalar(
            select(Payment).where(Payment.id == payment_id).with_for_update()
        )

    async def invoice_for_update(self, invoice_id: uuid.UUID) -> Invoice | None:
        return await self.session.scalar(
            select(Invoice).where(Invoice.id == invoice_id).with_for_update()
        )

    async def refunded_cents(self, payment_id: uuid.UUID) -> int:
        """What refunds that did not fail took off this payment."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
                Refund.payment_id == payment_id, Refund.status != RefundStatus.FAILED
            )
        )
        return int(total or 0)

    async def refund_by_key(self, key: str) -> Refund | None:
        return await self.session.scalar(select(Refund).where(Refund.idempotency_key == key))

    async def refund_by_processor_id(self, processor_refund_id: str) -> Refund | None:
        return await self.session.scalar(
            select(Refund)
            .where(Refund.processor_refund_id == processor_refund_id)
            .with_for_update()
        )

    async def credit_note_of(self, refund_id: uuid.UUID) -> CreditNote | None:
        return await self.session.scalar(
            select(CreditNote).where(CreditNote.refund_id == refund_id)
        )
