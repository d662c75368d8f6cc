"""A report to intake keeps the children's stays, so each takes the case intake opened for it.

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
    op.add_column("shelter_intake_reports", sa.Column("child_stay_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("shelter_intake_reports", "child_stay_ids")
