"""The customer credit ledger, refunds and their credit notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import USER_ID, Base, enum_column, uuid_pk
from models.billing import Invoice
from services.credits.rules import CreditKind, CreditNoteKind, RefundStatus


class CreditEntry(Base):
    """One change of a user's credit balance; the newest row's `balance_after_cents` is
    the balance (written with the user's lock held, so it never goes below zero)."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        CheckConstraint("balance_after_cents >= 0", name="balance_not_negative"),
        Index(None, "user_id", "id"),
        # Credit spent on an invoice that was never paid comes back once.
        Index(
            "uq_credit_ledger_restored_invoice",
            "invoice_id",
            unique=True,
            postgresql_where=text("kind = 'CREDIT_RESTORED'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(USER_ID)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # + credit, - spent
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[CreditKind] = mapped_column(enum_column(CreditKind, "credit_kind"))
    reason: Mapped[str] = mapped_column(Text)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    actor: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime]

    # Declared so the unit of work inserts the invoice before the entry that names it.
    invoice: Mapped[Invoice | None] = relationship(lazy="raise")


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index(None, "payment_id"),
        Index(None, "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    user_id: Mapped[str] = mapped_column(USER_ID)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    to_credit_balance: Mapped[bool]
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, "refund_status"))
    processor_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CreditNote(Base):
    """Money given back against the invoice that paid for it, with its own gapless
    number: a refund (to the card or the balance), the unused time of a cancellation or
    a pause (to the balance), or an upgrade's proration credit (to the upgrade's
    invoice, `applied_invoice_id`). A void note (its upgrade was never paid) gave
    nothing back."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("(kind = 'REFUND') = (refund_id IS NOT NULL)", name="refund_kind"),
        CheckConstraint(
            "(kind = 'PRORATION') = (applied_invoice_id IS NOT NULL)", name="proration_kind"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[CreditNoteKind] = mapped_column(enum_column(CreditNoteKind, "credit_note_kind"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    applied_invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("invoices.id"), index=True
    )
    voided_at: Mapped[datetime | None]
    user_id: Mapped[str] = mapped_column(USER_ID)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_at: Mapped[datetime]


class CreditBalance(Base):
    """A user's credit balance: one row, moved by guarded updates under its row lock,
    so it never goes below zero whoever spends it. The ledger says how it got there."""

    __tablename__ = "credit_balances"
    __table_args__ = (CheckConstraint("balance_cents >= 0", name="balance_not_negative"),)

    user_id: Mapped[str] = mapped_column(USER_ID, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
