"""Deadlines' pending settlements: fulfilments and cancellations that arrive before the opening.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deadlines_pending_settlements",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("applied_at", AWARE),
    )
    op.create_index(
        "ix_deadlines_pending_settlements_obligation_id",
        "deadlines_pending_settlements",
        ["obligation_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_deadlines_pending_settlements_obligation_id", "deadlines_pending_settlements")
    op.drop_table("deadlines_pending_settlements")
