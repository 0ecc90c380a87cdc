"""subscription discounts: a redemption keeps its row after it ran its course

A subscription used to hold one discount row, deleted when a new code replaced an
exhausted one, which lost the record the redemption counters stand for. Each
redemption now has its own id; one live discount per subscription is kept by a
partial unique index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscription_discounts",
        sa.Column("id", sa.Uuid(), nullable=False, server_default=sa.text("gen_random_uuid()")),
    )
    op.alter_column("subscription_discounts", "id", server_default=None)
    op.drop_constraint("pk_subscription_discounts", "subscription_discounts", type_="primary")
    op.create_primary_key("pk_subscription_discounts", "subscription_discounts", ["id"])
    op.create_index(
        "uq_subscription_discounts_live",
        "subscription_discounts",
        ["subscription_id"],
        unique=True,
        postgresql_where=sa.text("cycles_left IS DISTINCT FROM 0"),
    )


def downgrade() -> None:
    op.drop_index("uq_subscription_discounts_live", table_name="subscription_discounts")
    op.execute(  # only the live discount fits the old one-row-per-subscription shape
        "DELETE FROM subscription_discounts WHERE cycles_left IS NOT DISTINCT FROM 0"
        " AND subscription_id IN (SELECT subscription_id FROM subscription_discounts"
        " GROUP BY subscription_id HAVING count(*) > 1)"
    )
    op.drop_constraint("pk_subscription_discounts", "subscription_discounts", type_="primary")
    op.create_primary_key(
        "pk_subscription_discounts", "subscription_discounts", ["subscription_id"]
    )
    op.drop_column("subscription_discounts", "id")
