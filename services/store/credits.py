"""SQL for the credit balance and its ledger, refunds and credit notes. The balance row
is locked before it moves, so concurrent credits and spends line up."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models import CreditBalance, CreditEntry, CreditNote, Invoice, InvoiceLine, Payment, Refund
from services.billing.rules import InvoiceStatus, LineKind
from services.credits.rules import CreditKind, RefundStatus

# Lines that pay for a stretch of the subscription's time (not usage, not packs).
TIME_KINDS = (LineKind.SUBSCRIPTION, LineKind.PRORATION_CHARGE)


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

    async def notes_of(self, user_id: str, limit: int) -> Sequence[CreditNote]:
        """The user's credit notes, newest first (void ones too: they are numbered)."""
        query = select(CreditNote).where(CreditNote.user_id == user_id)
        query = query.order_by(CreditNote.created_at.desc(), CreditNote.number.desc())
        return (await self.session.scalars(query.limit(limit))).all()

    async def credit_note_of(self, refund_id: uuid.UUID) -> CreditNote | None:
        return await self.session.scalar(
            select(CreditNote).where(CreditNote.refund_id == refund_id)
        )

    async def invoice_refunds_cents(self, invoice_id: uuid.UUID) -> int:
        """What refunds that did not fail took off this invoice (pending ones included:
        their money is on its way back)."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
                Refund.invoice_id == invoice_id, Refund.status != RefundStatus.FAILED
            )
        )
        return int(total or 0)

    async def funding_invoice_for_update(
        self, subscription_id: uuid.UUID, period_start: datetime, period_end: datetime
    ) -> Invoice | None:
        """The paid invoice that pays for the subscription's current period now, locked,
        with its lines: the newest whose time lines reach into the period and whose time
        no earlier return has ended (an upgrade's invoice takes over from the period's)."""
        time_line = (
            select(InvoiceLine.id)
            .where(
                InvoiceLine.invoice_id == Invoice.id,
                InvoiceLine.kind.in_(TIME_KINDS),
                InvoiceLine.period_end > period_start,
                InvoiceLine.period_end <= period_end,
            )
            .exists()
        )
        return await self.session.scalar(
            select(Invoice)
            .where(
                Invoice.subscription_id == subscription_id,
                Invoice.status == InvoiceStatus.PAID,
                Invoice.time_credited_at.is_(None),
                time_line,
            )
            .order_by(Invoice.created_at.desc(), Invoice.number.desc())
            .limit(1)
            .options(selectinload(Invoice.lines))
            .with_for_update(of=Invoice)
            .execution_options(populate_existing=True)
        )

    async def proration_notes_paying(self, invoice_id: uuid.UUID) -> Sequence[CreditNote]:
        """The live proration credit notes that pay part of this invoice, locked."""
        query = (
            select(CreditNote)
            .where(CreditNote.applied_invoice_id == invoice_id, CreditNote.voided_at.is_(None))
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()

    async def credit_restored(self, invoice_id: uuid.UUID) -> bool:
        query = select(
            exists().where(
                CreditEntry.invoice_id == invoice_id,
                CreditEntry.kind == CreditKind.CREDIT_RESTORED,
            )
        )
        return bool(await self.session.scalar(query))

    async def spent_on(self, invoice_id: uuid.UUID) -> int:
        """The balance spent on this invoice (its APPLIED ledger entries), positive."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(CreditEntry.amount_cents), 0)).where(
                CreditEntry.invoice_id == invoice_id, CreditEntry.kind == CreditKind.APPLIED
            )
        )
        return -int(total or 0)
