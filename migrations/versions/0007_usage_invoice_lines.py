"""usage invoice lines

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_invoice_lines_invoice_line_kind"
BEFORE = ("SUBSCRIPTION", "PRORATION_CREDIT", "PRORATION_CHARGE")
AFTER = (*BEFORE, "USAGE")


def _allow(kinds: tuple[str, ...]) -> None:
    # op.f: the name is final (the naming convention would prefix it again)
    op.drop_constraint(op.f(CONSTRAINT), "invoice_lines", type_="check")
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.create_check_constraint(op.f(CONSTRAINT), "invoice_lines", f"kind IN ({listed})")


def upgrade() -> None:
    _allow(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM invoice_lines WHERE kind = 'USAGE'")
    _allow(BEFORE)
