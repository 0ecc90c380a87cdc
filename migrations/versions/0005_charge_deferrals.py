"""charge deferrals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:50:41.165866
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "charge_deferrals",
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_deferred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_charge_deferrals_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_charge_deferrals")),
    )
    op.create_index(
        "ix_charge_deferrals_next_attempt_at", "charge_deferrals", ["next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_charge_deferrals_next_attempt_at", table_name="charge_deferrals")
    op.drop_table("charge_deferrals")
