"""Every return of money drawn against the invoice that paid for it; codes once per
customer; credit restored from invoices never paid

- invoices: `credit_applied_cents` (paid by the balance or by an earlier invoice's
  unused time), `amount_credited_cents` (unused time given back against it) and
  `time_credited_at`; a check that refunds and credits never pass what paid it;
- credit_notes: a `kind` (REFUND, UNUSED_TIME, PRORATION), `refund_id` only for refunds,
  `applied_invoice_id` for an upgrade's proration credit, `voided_at`;
- credit_ledger: kind CREDIT_RESTORED, once per invoice;
- coupons: `max_redemptions_per_customer` (default 1); subscription_discounts indexed by
  user and coupon.

Existing rows: invoices paid by the balance get their `credit_applied_cents` from their
CREDIT and PRORATION_CREDIT lines; earlier credit notes are refunds.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREDIT_KINDS_BEFORE = ("ADJUSTMENT", "PRORATION", "REFUND", "APPLIED")
CREDIT_KINDS = (*CREDIT_KINDS_BEFORE, "CREDIT_RESTORED")
NOTE_KINDS = ("REFUND", "UNUSED_TIME", "PRORATION")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    for column in ("credit_applied_cents", "amount_credited_cents"):
        op.add_column(
            "invoices", sa.Column(column, sa.BigInteger(), server_default="0", nullable=False)
        )
    op.add_column(
        "invoices", sa.Column("time_credited_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE invoices i SET credit_applied_cents = -s.applied FROM ("
        " SELECT invoice_id, sum(amount_cents) AS applied FROM invoice_lines"
        " WHERE kind IN ('CREDIT', 'PRORATION_CREDIT') GROUP BY invoice_id) s"
        " WHERE s.invoice_id = i.id"
    )
    op.create_check_constraint(
        op.f("ck_invoices_returns_within_paid"),
        "invoices",
        "amount_credited_cents >= 0 AND credit_applied_cents >= 0 AND amount_refunded_cents"
        " + amount_credited_cents <= amount_paid_cents + credit_applied_cents",
    )

    op.add_column(
        "credit_notes",
        sa.Column(
            "kind",
            sa.Enum(
                *NOTE_KINDS,
                name="credit_note_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="REFUND",
            nullable=False,
        ),
    )
    op.alter_column("credit_notes", "kind", server_default=None)
    op.alter_column("credit_notes", "refund_id", nullable=True)
    op.add_column("credit_notes", sa.Column("applied_invoice_id", sa.Uuid(), nullable=True))
    op.add_column("credit_notes", sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_credit_notes_applied_invoice_id_invoices"),
        "credit_notes",
        "invoices",
        ["applied_invoice_id"],
        ["id"],
    )
    op.create_index(
        op.f("ix_credit_notes_applied_invoice_id"), "credit_notes", ["applied_invoice_id"]
    )
    op.create_check_constraint(
        op.f("ck_credit_notes_amount_positive"), "credit_notes", "amount_cents > 0"
    )
    op.create_check_constraint(
        op.f("ck_credit_notes_refund_kind"),
        "credit_notes",
        "(kind = 'REFUND') = (refund_id IS NOT NULL)",
    )
    op.create_check_constraint(
        op.f("ck_credit_notes_proration_kind"),
        "credit_notes",
        "(kind = 'PRORATION') = (applied_invoice_id IS NOT NULL)",
    )

    _credit_kinds(CREDIT_KINDS)
    op.create_index(
        "uq_credit_ledger_restored_invoice",
        "credit_ledger",
        ["invoice_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'CREDIT_RESTORED'"),
    )

    op.add_column(
        "coupons",
        sa.Column("max_redemptions_per_customer", sa.Integer(), server_default="1", nullable=True),
    )
    op.create_index(
        op.f("ix_subscription_discounts_user_id_coupon_id"),
        "subscription_discounts",
        ["user_id", "coupon_id"],
    )


def _credit_kinds(kinds: Sequence[str]) -> None:
    name = op.f("ck_credit_ledger_credit_kind")
    op.drop_constraint(name, "credit_ledger", type_="check")
    op.create_check_constraint(name, "credit_ledger", f"kind IN ({_listed(kinds)})")


def downgrade() -> None:
    op.drop_index(
        op.f("ix_subscription_discounts_user_id_coupon_id"), table_name="subscription_discounts"
    )
    op.drop_column("coupons", "max_redemptions_per_customer")
    op.drop_index("uq_credit_ledger_restored_invoice", table_name="credit_ledger")
    op.execute("DELETE FROM credit_ledger WHERE kind = 'CREDIT_RESTORED'")
    _credit_kinds(CREDIT_KINDS_BEFORE)
    op.execute("DELETE FROM credit_notes WHERE kind <> 'REFUND'")
    for name in ("proration_kind", "refund_kind", "amount_positive"):
        op.drop_constraint(op.f(f"ck_credit_notes_{name}"), "credit_notes", type_="check")
    op.drop_index(op.f("ix_credit_notes_applied_invoice_id"), table_name="credit_notes")
    op.drop_constraint(
        op.f("fk_credit_notes_applied_invoice_id_invoices"), "credit_notes", type_="foreignkey"
    )
    op.drop_column("credit_notes", "voided_at")
    op.drop_column("credit_notes", "applied_invoice_id")
    op.alter_column("credit_notes", "refund_id", nullable=False)
    op.drop_column("credit_notes", "kind")
    op.drop_constraint(op.f("ck_invoices_returns_within_paid"), "invoices", type_="check")
    for column in ("time_credited_at", "amount_credited_cents", "credit_applied_cents"):
        op.drop_column("invoices", column)
