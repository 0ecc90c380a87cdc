"""worker heartbeats and test clock

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 07:57:59.028966
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_clock",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("offset_microseconds", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_test_clock_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clock")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("loop", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("loop", "worker", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    op.drop_table("test_clock")
