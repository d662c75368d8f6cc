"""Routing's referrals name every row they carry (one delivery per agency per case event).

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


def upgrade() -> None:
    # Referrals issued before carry their one row in `code`: an empty list says no others.
    op.add_column(
        "routing_referrals",
        sa.Column("rows", sa.Text, nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    op.drop_column("routing_referrals", "rows")
