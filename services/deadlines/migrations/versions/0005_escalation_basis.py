"""The clause of each escalation step: on the escalation obligation and on its timeline entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines_obligations") as table:
        table.add_column(sa.Column("escalation_basis", sa.String(200), nullable=True))
    with op.batch_alter_table("deadlines_case_timeline") as table:
        table.add_column(sa.Column("legal_basis", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deadlines_case_timeline") as table:
        table.drop_column("legal_basis")
    with op.batch_alter_table("deadlines_obligations") as table:
        table.drop_column("escalation_basis")
