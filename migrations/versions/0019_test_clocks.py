"""Test clocks per customer

`test_clocks` (a clock that stands still at `now` until advanced; `advancing_to` while
an advance runs, so a restart resumes it) and `test_clock_customers` (one clock per
customer; removing a clock detaches them, the clock's delete removes their rows), and
`retired_numbers`: invoice and credit-note numbers whose documents were deleted with a
clock's customers, which the audit counts as issued so the numbering stays gapless;
an index on invoices (created_at, id) for the console's list of everyone's, and one on
the pauses in subscription_history (the console's MRR keeps paused subscriptions).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("now", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("advancing_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint("status IN ('READY', 'ADVANCING')", name="ck_test_clocks_status"),
        sa.CheckConstraint(
            "(status = 'ADVANCING') = (advancing_to IS NOT NULL)",
            name="ck_test_clocks_advancing_has_target",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_test_clocks"),
    )
    op.create_table(
        "test_clock_customers",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("test_clock_id", sa.Uuid(), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["test_clock_id"],
            ["test_clocks.id"],
            name="fk_test_clock_customers_test_clock_id_test_clocks",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_test_clock_customers"),
    )
    op.create_index(
        "ix_test_clock_customers_test_clock_id", "test_clock_customers", ["test_clock_id"]
    )
    # The console's list of every customer's invoices, newest first; the pauses its MRR
    # keeps counting.
    op.create_index("ix_invoices_created_at_id", "invoices", ["created_at", "id"])
    op.create_index(
        "ix_subscription_history_pauses",
        "subscription_history",
        ["occurred_at"],
        postgresql_where=sa.text("to_status = 'PAUSED'"),
    )
    op.create_table(
        "retired_numbers",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_retired_numbers"),
    )


def downgrade() -> None:
    op.drop_table("retired_numbers")
    op.drop_index("ix_invoices_created_at_id", table_name="invoices")
    op.drop_index("ix_subscription_history_pauses", table_name="subscription_history")
    op.drop_table("test_clock_customers")
    op.drop_table("test_clocks")
