"""SQL for payments, invoices, processor customers and saved payment methods."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models import Invoice, InvoiceCounter, Payment, PaymentCustomer, PaymentMethod
from services.billing_rules import InvoiceStatus, invoice_number

INVOICE_COUNTER = "invoice"


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- customers and payment methods ---

    async def customer(self, user_id: str) -> PaymentCustomer | None:
        return await self.session.scalar(
            select(PaymentCustomer).where(
                PaymentCustomer.user_id == user_id, PaymentCustomer.is_active.is_(True)
            )
        )

    def add(self, row: PaymentCustomer | PaymentMethod | Payment | Invoice) -> None:
        self.session.add(row)

    async def payment_methods(self, user_id: str) -> Sequence[PaymentMethod]:
        query = (
            select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id, PaymentMethod.is_active.is_(True))
            .order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at.desc())
        )
        return (await self.session.scalars(query)).all()

    async def payment_method(self, payment_method_id: str) -> PaymentMethod | None:
        return await self.session.scalar(
            select(PaymentMethod).where(PaymentMethod.payment_method_id == payment_method_id)
        )

    async def default_payment_method(self, user_id: str) -> PaymentMethod | None:
        return await self.session.scalar(
            select(PaymentMethod).where(
                PaymentMethod.user_id == user_id,
                PaymentMethod.is_default.is_(True),
                PaymentMethod.is_active.is_(True),
            )
        )

    # --- payments ---

    async def payment_for_update(
        self, *, payment_id: uuid.UUID | None, processor_payment_id: str | None
    ) -> Payment | None:
        """A payment by our id or the processor's, locked for the result being applied."""
        if payment_id is not None:
            condition = Payment.id == payment_id
        elif processor_payment_id:
            condition = Payment.payment_id == processor_payment_id
        else:
            return None
        return await self.session.scalar(select(Payment).where(condition).with_for_update())

    async def invoice(self, invoice_id: uuid.UUID) -> Invoice | None:
        return await self.session.get(Invoice, invoice_id)

    async def payments_for(self, subscription_id: uuid.UUID) -> Sequence[Payment]:
        query = (
            select(Payment).where(Payment.order_id == subscription_id).order_by(Payment.created_at)
        )
        return (await self.session.scalars(query)).all()

    # --- invoices ---

    async def open_invoices(self, subscription_id: uuid.UUID) -> Sequence[Invoice]:
        query = select(Invoice).where(
            Invoice.subscription_id == subscription_id, Invoice.status == InvoiceStatus.OPEN
        )
        return (await self.session.scalars(query)).all()

    async def open_invoice_for(
        self, subscription_id: uuid.UUID, period_start: datetime
    ) -> Invoice | None:
        return await self.session.scalar(
            select(Invoice).where(
                Invoice.subscription_id == subscription_id,
                Invoice.status == InvoiceStatus.OPEN,
                Invoice.period_start == period_start,
            )
        )

    async def next_invoice_number(self) -> str:
        """Gapless: the counter row stays locked until this transaction ends, and a
        rollback returns the number. Call it as late in the transaction as possible."""
        await self.session.execute(
            insert(InvoiceCounter)
            .values(name=INVOICE_COUNTER, last_number=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        sequence = await self.session.scalar(
            update(InvoiceCounter)
            .where(InvoiceCounter.name == INVOICE_COUNTER)
            .values(last_number=InvoiceCounter.last_number + 1)
            .returning(InvoiceCounter.last_number)
        )
        assert sequence is not None
        return invoice_number(sequence)

    async def invoice_page(
        self, user_id: str, first: int, after: tuple[datetime, uuid.UUID] | None
    ) -> Sequence[Invoice]:
        query = (
            select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.user_id == user_id)
        )
        if after is not None:
            created_at, invoice_id = after
            query = query.where(
                or_(
                    Invoice.created_at < created_at,
                    and_(Invoice.created_at == created_at, Invoice.id < invoice_id),
                )
            )
        query = query.order_by(Invoice.created_at.desc(), Invoice.id.desc()).limit(first + 1)
        return (await self.session.scalars(query)).all()
