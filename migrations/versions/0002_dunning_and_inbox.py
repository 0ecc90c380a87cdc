"""dunning and inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:56:15.370133
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_invoices_open_subscription",
        "invoices",
        ["subscription_id", "period_start"],
        unique=False,
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.add_column("payments", sa.Column("period_start", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "payments", sa.Column("attempt", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("payments", sa.Column("target_plan_id", sa.Uuid(), nullable=True))
    op.add_column(
        "payments", sa.Column("processor_event_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "uq_payments_period_attempt",
        "payments",
        ["order_id", "period_start", "attempt"],
        unique=True,
        postgresql_where=sa.text("purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"),
    )
    op.create_index(
        "uq_payments_period_paid",
        "payments",
        ["order_id", "period_start"],
        unique=True,
        postgresql_where=sa.text(
            "status_literal = 'success' AND purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"
        ),
    )
    op.create_foreign_key(
        op.f("fk_payments_target_plan_id_plans"), "payments", "plans", ["target_plan_id"], ["id"]
    )
    # The inbox is keyed by (source, message id): Stripe event ids and Kafka ids never mix.
    op.drop_constraint("pk_processed_messages", "processed_messages", type_="primary")
    op.create_primary_key("pk_processed_messages", "processed_messages", ["source", "message_id"])
    op.add_column(
        "processed_messages", sa.Column("message_type", sa.String(length=128), nullable=True)
    )
    op.add_column(
        "processed_messages",
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("processed_messages", sa.Column("outcome", sa.String(length=64), nullable=True))
    op.add_column(
        "subscriptions", sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "subscriptions", sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "subscriptions",
        sa.Column("trial_reminder_sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_subscriptions_due_retry",
        "subscriptions",
        ["next_retry_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PAST_DUE'"),
    )
    op.create_index(
        "ix_subscriptions_due_checkout",
        "subscriptions",
        ["status_updated_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_index(
        "ix_subscriptions_due_trial_reminder",
        "subscriptions",
        ["trial_end"],
        unique=False,
        postgresql_where=sa.text("status = 'TRIALING' AND trial_reminder_sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_subscriptions_due_checkout",
        table_name="subscriptions",
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.drop_index(
        "ix_subscriptions_due_trial_reminder",
        table_name="subscriptions",
        postgresql_where=sa.text("status = 'TRIALING' AND trial_reminder_sent_at IS NULL"),
    )
    op.drop_index(
        "ix_subscriptions_due_retry",
        table_name="subscriptions",
        postgresql_where=sa.text("status = 'PAST_DUE'"),
    )
    op.drop_column("subscriptions", "trial_reminder_sent_at")
    op.drop_column("subscriptions", "retry_count")
    op.drop_column("subscriptions", "next_retry_at")
    op.drop_column("processed_messages", "outcome")
    op.drop_column("processed_messages", "payload")
    op.drop_column("processed_messages", "message_type")
    op.drop_constraint("pk_processed_messages", "processed_messages", type_="primary")
    op.create_primary_key("pk_processed_messages", "processed_messages", ["message_id"])
    op.drop_constraint(op.f("fk_payments_target_plan_id_plans"), "payments", type_="foreignkey")
    op.drop_index(
        "uq_payments_period_paid",
        table_name="payments",
        postgresql_where=sa.text(
            "status_literal = 'success' AND purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"
        ),
    )
    op.drop_index(
        "uq_payments_period_attempt",
        table_name="payments",
        postgresql_where=sa.text("purpose IN ('TRIAL_CONVERSION', 'RENEWAL', 'RETRY')"),
    )
    op.drop_column("payments", "processor_event_at")
    op.drop_column("payments", "target_plan_id")
    op.drop_column("payments", "attempt")
    op.drop_column("payments", "period_start")
    op.drop_index(
        "ix_invoices_open_subscription",
        table_name="invoices",
        postgresql_where=sa.text("status = 'OPEN'"),
    )
