"""usage and quotas

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:20:26.301752
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column(
            "aggregation",
            sa.Enum(
                "COUNT",
                "SUM",
                "MAX",
                "UNIQUE_COUNT",
                name="aggregation",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("key", name=op.f("uq_meters_key")),
    )
    op.create_table(
        "plan_quotas",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("included_units", sa.BigInteger(), nullable=True),
        sa.Column("overage_unit_price_cents", sa.Integer(), nullable=False),
        sa.Column("hard_limit", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "included_units IS NULL OR included_units >= 0", name=op.f("ck_plan_quotas_included")
        ),
        sa.CheckConstraint(
            "overage_unit_price_cents >= 0", name=op.f("ck_plan_quotas_overage_price")
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_plan_quotas_meter_id_meters")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_quotas_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("plan_id", "meter_id", name=op.f("pk_plan_quotas")),
    )
    op.create_table(
        "usage_counters",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_usage_counters_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_counters_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "meter_id", "period_start", name=op.f("pk_usage_counters")
        ),
    )
    op.create_table(
        "usage_events",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("answer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_events_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("user_id", "event_id", name=op.f("pk_usage_events")),
    )
    op.create_table(
        "usage_unique_values",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_usage_unique_values_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "meter_id", "period_start", "value", name=op.f("pk_usage_unique_values")
        ),
    )


def downgrade() -> None:
    op.drop_table("usage_unique_values")
    op.drop_table("usage_events")
    op.drop_table("usage_counters")
    op.drop_table("plan_quotas")
    op.drop_table("meters")
