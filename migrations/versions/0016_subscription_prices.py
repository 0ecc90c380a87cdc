"""Each subscription's own price: grandfathered on price changes unless moved at a date

- subscriptions: `price_cents` (the price its invoices charge before discounts and
  usage; NULL only for rows written outside the service, which follow the plan), and
  `scheduled_price_cents` / `scheduled_price_at` (a price change the admin moved it to:
  its first invoice on or after that moment charges it). Existing current subscriptions
  get their plan's price now, so the next change of a plan's price leaves them on it.
- plans: `interval` gains DAY and WEEK, and `interval_count` (1 to 36, default 1) makes a
  period that many intervals (every 2 weeks, quarterly);
- meters: `feature` may be NULL: a meter without one is unlocked by any plan that sets
  a quota on it;
- customer_prices: a customer's own price on a plan (admin), until a moment or open-ended;
- pricing_records: `note` (the admin's internal reason, never the public description),
  `existing_subscribers` (KEEP_PRICE or MOVE_AT) and `move_at`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("price_cents", sa.BigInteger(), nullable=True))
    op.add_column(
        "subscriptions", sa.Column("scheduled_price_cents", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "subscriptions",
        sa.Column("scheduled_price_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.execute(
        "UPDATE subscriptions s SET price_cents = p.price_cents FROM plans p"
        " WHERE p.id = s.plan_id AND s.is_current"
    )
    op.create_check_constraint(
        op.f("ck_subscriptions_scheduled_price"),
        "subscriptions",
        "(scheduled_price_cents IS NULL) = (scheduled_price_at IS NULL)"
        " AND coalesce(scheduled_price_cents, 0) >= 0 AND coalesce(price_cents, 0) >= 0",
    )
    op.add_column("pricing_records", sa.Column("note", sa.Text(), nullable=True))
    op.add_column(
        "pricing_records",
        sa.Column(
            "existing_subscribers",
            sa.String(length=16),
            server_default="KEEP_PRICE",
            nullable=False,
        ),
    )
    op.add_column(
        "pricing_records", sa.Column("move_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.alter_column("meters", "feature", nullable=True)
    _intervals(("DAY", "WEEK", "MONTH", "YEAR"))
    op.add_column(
        "plans", sa.Column("interval_count", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_plans_interval_count"), "plans", "interval_count BETWEEN 1 AND 36"
    )
    op.create_table(
        "customer_prices",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_customer_prices_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_customer_prices_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("user_id", "plan_id", name=op.f("pk_customer_prices")),
    )


def _intervals(values: Sequence[str]) -> None:
    name = op.f("ck_plans_billing_interval")
    op.drop_constraint(name, "plans", type_="check")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(name, "plans", f"interval IN ({listed})")


def downgrade() -> None:
    op.drop_table("customer_prices")
    op.drop_constraint(op.f("ck_plans_interval_count"), "plans", type_="check")
    op.drop_column("plans", "interval_count")
    _intervals(("MONTH", "YEAR"))
    op.execute(
        "UPDATE meters SET feature = replace(replace(key, '.', '_'), '-', '_')"
        " WHERE feature IS NULL"
    )
    op.alter_column("meters", "feature", nullable=False)
    for column in ("move_at", "existing_subscribers", "note"):
        op.drop_column("pricing_records", column)
    op.drop_constraint(op.f("ck_subscriptions_scheduled_price"), "subscriptions", type_="check")
    for column in ("scheduled_price_at", "scheduled_price_cents", "price_cents"):
        op.drop_column("subscriptions", column)
