"""payments: the status index only for charges still waiting on the processor;
subscription_history: no index by user

Every renewal writes a payment and a history row. `ix_payments_status_literal` took an
entry for every payment, but the only query on the status alone is the reconciler's
(charges still `started` after a while), now served by a partial index that a
successful charge never enters. Nothing reads history by user (a user's history is
their subscriptions', by `ix_subscription_history_subscription_id_occurred_at`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_payments_unsettled",
        "payments",
        ["platform", "created_at"],
        postgresql_where=sa.text("status_literal = 'started'"),
    )
    op.drop_index("ix_payments_status_literal", table_name="payments")
    op.drop_index("ix_subscription_history_user_id_occurred_at", table_name="subscription_history")


def downgrade() -> None:
    op.create_index(
        "ix_subscription_history_user_id_occurred_at",
        "subscription_history",
        ["user_id", "occurred_at"],
    )
    op.create_index("ix_payments_status_literal", "payments", ["status_literal"])
    op.drop_index("ix_payments_unsettled", table_name="payments")
