"""payments and invoice lines: invoice foreign keys deferrable (still checked at once
unless a transaction defers them)

A bulk renewal holds the gapless invoice counter from the draw to the commit, so it
writes everything that carries no number first: the payments and lines go in before
their invoices, with these two checks deferred to its commit.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 16:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINTS = (
    ("payments", "fk_payments_invoice_id_invoices"),
    ("invoice_lines", "fk_invoice_lines_invoice_id_invoices"),
)


def upgrade() -> None:
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY IMMEDIATE")


def downgrade() -> None:
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} NOT DEFERRABLE")
