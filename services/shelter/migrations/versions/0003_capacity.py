"""A shelter's beds and staff (Appendix 3), for occupancy and staffing reports.

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


def upgrade() -> None:
    op.create_table(
        "shelter_capacity",
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("beds", sa.Integer(), nullable=False),
        sa.Column("staff", sa.Text(), nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("agency_id"),
    )


def downgrade() -> None:
    op.drop_table("shelter_capacity")
