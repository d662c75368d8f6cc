"""The family centre's pending settlements: routing's fulfilments and withdrawals that come before the
obligation's opening, kept until it opens (shared.settlements).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)
TABLE = "familycentre_pending_settlements"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("applied_at", AWARE),
    )
    op.create_index(f"ix_{TABLE}_obligation_id", TABLE, ["obligation_id"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_obligation_id", TABLE)
    op.drop_table(TABLE)
