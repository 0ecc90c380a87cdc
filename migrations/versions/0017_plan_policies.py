"""A lifecycle policy per plan

plans gain `proration` (PRORATE, NONE, FULL_PERIOD), `upgrade_timing` and
`downgrade_timing` (IMMEDIATE, PERIOD_END), `retry_days` (int[]), `grace_days` and
`after_grace` (EXPIRE, CANCEL, PAUSE). The server defaults are the behaviour before
policies (prorated upgrades now, downgrades at period end, retries on days 1, 3 and 5
of a 7-day grace, then EXPIRED), so every existing plan keeps it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = (
    ("proration", "PRORATE"),
    ("upgrade_timing", "IMMEDIATE"),
    ("downgrade_timing", "PERIOD_END"),
    ("after_grace", "EXPIRE"),
)


def upgrade() -> None:
    for name, default in _TEXT:
        op.add_column(
            "plans", sa.Column(name, sa.String(16), server_default=default, nullable=False)
        )
    op.add_column(
        "plans",
        sa.Column(
            "retry_days",
            postgresql.ARRAY(sa.Integer()),
            server_default="{1,3,5}",
            nullable=False,
        ),
    )
    op.add_column(
        "plans", sa.Column("grace_days", sa.Integer(), server_default="7", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_plans_policy"),
        "plans",
        "proration IN ('PRORATE', 'NONE', 'FULL_PERIOD')"
        " AND upgrade_timing IN ('IMMEDIATE', 'PERIOD_END')"
        " AND downgrade_timing IN ('IMMEDIATE', 'PERIOD_END')"
        " AND after_grace IN ('EXPIRE', 'CANCEL', 'PAUSE')"
        " AND grace_days BETWEEN 0 AND 60",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_plans_policy"), "plans", type_="check")
    for name in ("grace_days", "retry_days", *(name for name, _ in _TEXT)):
        op.drop_column("plans", name)
