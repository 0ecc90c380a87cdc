"""SQL for payments, invoices, processor customers and saved payment methods."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from models import (
    ChargeDeferral,
    CheckoutSession,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    Payment,
    PaymentCustomer,
    PaymentMethod,
    Subscription,
)
from services.billing.rules import (
    InvoiceStatus,
    LineKind,
    PaymentPurpose,
    PaymentStatus,
    gateway_retry_delay,
    invoice_number,
)

INVOICE_COUNTER = "invoice"
CREDIT_NOTE_COUNTER = "credit_notes"


def _named(
    payment_ids: Collection[uuid.UUID], processor_payment_ids: Collection[str]
) -> ColumnElement[bool]:
    return or_(Payment.id.in_(payment_ids), Payment.payment_id.in_(processor_payment_ids))


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

    def add(
        self, row: PaymentCustomer | PaymentMethod | Payment | Invoice | CheckoutSession
    ) -> None:
        self.session.add(row)

    async def checkout_session(
        self, session_id: uuid.UUID, *, lock: bool = False
    ) -> CheckoutSession | None:
        query = (
            select(CheckoutSession)
            .where(CheckoutSession.id == session_id)
            .options(selectinload(CheckoutSession.plan))
        )
        if lock:
            query = query.with_for_update(of=CheckoutSession)
        return await self.session.scalar(query)

    async def checkout_session_by_processor_id(self, processor_id: str) -> CheckoutSession | None:
        return await self.session.scalar(
            select(CheckoutSession)
            .where(CheckoutSession.processor_session_id == processor_id)
            .options(selectinload(CheckoutSession.plan))
            .with_for_update(of=CheckoutSession)
        )

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

    async def payments_for_update(
        self, payment_ids: Collection[uuid.UUID], processor_payment_ids: Collection[str]
    ) -> Sequence[Payment]:
        """The payments named by our ids or the processor's, locked, in one statement
        (their locked state replaces anything this session read before)."""
        if not payment_ids and not processor_payment_ids:
            return []
        query = (
            select(Payment)
            .where(_named(payment_ids, processor_payment_ids))
            .order_by(Payment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).all()

    async def payments_of(self, user_id: str, limit: int) -> Sequence[tuple[Payment, str | None]]:
        """The user's payments, newest first, with their invoices' numbers."""
        query = (
            select(Payment, Invoice.number)
            .outerjoin(Invoice, Invoice.id == Payment.invoice_id)
            .where(Payment.owner_id == user_id)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(limit)
        )
        return [(payment, number) for payment, number in await self.session.execute(query)]

    async def had_business(self, user_id: str, besides: uuid.UUID | None = None) -> bool:
        """Whether the user ever had a subscription (one that got past checkout, other
        than `besides`) or a paid invoice of any amount: first-time promotion codes."""
        started = exists().where(
            Subscription.user_id == user_id,
            Subscription.id != besides if besides is not None else true(),
            or_(Subscription.activated_at.is_not(None), Subscription.trial_start.is_not(None)),
        )
        invoiced = exists().where(Invoice.user_id == user_id, Invoice.status == InvoiceStatus.PAID)
        return bool(await self.session.scalar(select(or_(started, invoiced))))

    async def payment_owners(
        self, payment_ids: Collection[uuid.UUID], processor_payment_ids: Collection[str]
    ) -> set[str]:
        """Who those payments belong to: read without locks (and without loading the
        payments), so the users can be locked before their rows."""
        if not payment_ids and not processor_payment_ids:
            return set()
        query = select(Payment.owner_id).where(_named(payment_ids, processor_payment_ids))
        return set((await self.session.scalars(query)).all())

    async def load_invoices(self, invoice_ids: Collection[uuid.UUID]) -> None:
        """Bring these invoices into the session, so `invoice()` needs no round trip."""
        if invoice_ids:
            await self.session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))

    async def invoice(self, invoice_id: uuid.UUID) -> Invoice | None:
        return await self.session.get(Invoice, invoice_id)

    async def period_bought(self, invoice_id: uuid.UUID) -> tuple[datetime, datetime] | None:
        """The new period a plan change's invoice paid in full (FULL_PERIOD), if any."""
        found = (
            await self.session.execute(
                select(InvoiceLine.period_start, InvoiceLine.period_end).where(
                    InvoiceLine.invoice_id == invoice_id,
                    InvoiceLine.kind == LineKind.SUBSCRIPTION,
                )
            )
        ).first()
        if found is None or found[0] is None or found[1] is None:
            return None
        return found[0], found[1]

    async def invoice_of_payment(self, payment_id: uuid.UUID) -> Invoice | None:
        payment = await self.session.get(Payment, payment_id)
        if payment is None or payment.invoice_id is None:
            return None
        return await self.invoice(payment.invoice_id)

    async def attempts_made(
        self, subscription_ids: Collection[uuid.UUID]
    ) -> set[tuple[uuid.UUID | None, datetime | None, int]]:
        """(subscription, period, attempt) of every recorded renewal-type charge."""
        if not subscription_ids:
            return set()
        query = select(Payment.order_id, Payment.period_start, Payment.attempt).where(
            Payment.order_id.in_(subscription_ids),
            Payment.purpose.in_(
                [PaymentPurpose.TRIAL_CONVERSION, PaymentPurpose.RENEWAL, PaymentPurpose.RETRY]
            ),
        )
        return {(row[0], row[1], row[2]) for row in await self.session.execute(query)}

    async def next_invoice_number(self) -> str:
        return (await self.invoice_numbers(1))[0]

    async def invoice_numbers(self, count: int) -> list[str]:
        """`count` gapless numbers: the counter row stays locked until this transaction
        ends, and a rollback gives the numbers back. Draw them as late as possible."""
        return [invoice_number(n) for n in await self._draw(INVOICE_COUNTER, count)]

    async def next_credit_note_number(self) -> str:
        """Credit notes are numbered on their own gapless sequence."""
        [number] = await self._draw(CREDIT_NOTE_COUNTER, 1)
        return f"CN-{number:08d}"

    async def _draw(self, counter: str, count: int) -> list[int]:
        if count == 0:
            return []
        last = await self.session.scalar(
            update(InvoiceCounter)
            .where(InvoiceCounter.name == counter)
            .values(last_number=InvoiceCounter.last_number + count)
            .returning(InvoiceCounter.last_number)
        )
        if last is None:  # the first number ever: create the counter (racing creators agree)
            await self.session.execute(
                insert(InvoiceCounter)
                .values(name=counter, last_number=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            return await self._draw(counter, count)
        return list(range(last - count + 1, last + 1))

    async def default_methods(self, user_ids: Collection[str]) -> dict[str, PaymentMethod]:
        query = select(PaymentMethod).where(
            PaymentMethod.user_id.in_(user_ids),
            PaymentMethod.is_default.is_(True),
            PaymentMethod.is_active.is_(True),
        )
        return {method.user_id: method for method in await self.session.scalars(query)}

    async def open_invoices_by_subscription(
        self, subscription_ids: Collection[uuid.UUID]
    ) -> dict[tuple[uuid.UUID | None, datetime | None], Invoice]:
        if not subscription_ids:
            return {}
        query = select(Invoice).where(
            Invoice.subscription_id.in_(subscription_ids), Invoice.status == InvoiceStatus.OPEN
        )
        return {(i.subscription_id, i.period_start): i for i in await self.session.scalars(query)}

    async def collection_state(
        self, subscription_id: uuid.UUID
    ) -> tuple[Payment | None, ChargeDeferral | None]:
        """The subscription's latest collection attempt (a quota pack's payment is not
        one) and the deferral its next charge waits in, if the gateway could not take it."""
        payment = await self.session.scalar(
            select(Payment)
            .where(
                Payment.order_id == subscription_id,
                Payment.purpose.in_(
                    (PaymentPurpose.TRIAL_CONVERSION, PaymentPurpose.RENEWAL, PaymentPurpose.RETRY)
                ),
            )
            .order_by(Payment.created_at.desc())
            .limit(1)
        )
        return payment, await self.session.get(ChargeDeferral, subscription_id)

    async def defer_charges(
        self, deferred: Sequence[tuple[uuid.UUID, str, str]], now: datetime
    ) -> None:
        """Queue (subscription id, user id, error) charges the gateway could not take,
        each retried after its backoff."""
        ids = [subscription_id for subscription_id, _, _ in deferred]
        rows = await self.session.execute(
            select(ChargeDeferral.subscription_id, ChargeDeferral.attempts).where(
                ChargeDeferral.subscription_id.in_(ids)
            )
        )
        attempts = {subscription_id: count for subscription_id, count in rows}
        for subscription_id, user_id, error in deferred:
            tries = attempts.get(subscription_id, 0) + 1
            values = {
                "subscription_id": subscription_id,
                "user_id": user_id,
                "attempts": tries,
                "first_deferred_at": now,
                "next_attempt_at": now + gateway_retry_delay(tries),
                "last_error": error[:255],
            }
            statement = insert(ChargeDeferral).values(values)
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["subscription_id"],
                    set_={k: v for k, v in values.items() if k != "first_deferred_at"},
                )
            )

    async def clear_deferrals(self, subscription_ids: Collection[uuid.UUID]) -> None:
        if subscription_ids:
            await self.session.execute(
                delete(ChargeDeferral).where(ChargeDeferral.subscription_id.in_(subscription_ids))
            )

    async def deferred_charges(self) -> tuple[int, datetime | None]:
        """How many due charges wait for the gateway, and since when the oldest."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(ChargeDeferral.first_deferred_at))
            )
        ).one()
        return int(row[0]), row[1]

    async def unsettled_payments(
        self, platform: str, started_before: datetime, limit: int
    ) -> Sequence[tuple[uuid.UUID, str]]:
        """(our id, the processor's id) of charges still `started` at the processor since
        before `started_before`: the ones whose outcome event may never come."""
        query = (
            select(Payment.id, Payment.payment_id)
            .where(
                Payment.platform == platform,
                # Written out, not a parameter: a plan must see it to use the partial
                # index ix_payments_unsettled.
                Payment.status_literal == literal_column(f"'{PaymentStatus.STARTED.value}'"),
                Payment.payment_id.is_not(None),
                Payment.created_at < started_before,
            )
            .order_by(Payment.created_at)
            .limit(limit)
        )
        return [(row[0], str(row[1])) for row in await self.session.execute(query)]
