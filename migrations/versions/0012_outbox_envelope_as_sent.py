"""outbox: envelopes kept as the JSON text the relay sends; prune index on published rows

`envelope` was jsonb: every event was parsed into PostgreSQL's binary form on insert
and printed back to text for the relay (in a key order and spacing of PostgreSQL's
choosing). As json it keeps the bytes the service serialized once, which are the
bytes the broker gets; `->` and `->>` work on it as before. The prune index covers
published rows only: a new event no longer adds an entry for its NULL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "outbox",
        "envelope",
        type_=postgresql.JSON(),
        existing_type=postgresql.JSONB(),
        postgresql_using="envelope::json",
    )
    op.drop_index("ix_outbox_published_at", table_name="outbox")
    op.create_index(
        "ix_outbox_published_at",
        "outbox",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_published_at", table_name="outbox")
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.alter_column(
        "outbox",
        "envelope",
        type_=postgresql.JSONB(),
        existing_type=postgresql.JSON(),
        postgresql_using="envelope::jsonb",
    )
