"""Routing keeps each shelter's free places from its `capacity_changed` (Standard 14701 p.25).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_shelter_places",
        sa.Column("agency_id", sa.String(length=80), nullable=False),
        sa.Column("region", sa.String(length=10), nullable=False),
        sa.Column("beds", sa.Integer(), nullable=True),
        sa.Column("occupied", sa.Integer(), nullable=False),
        sa.Column("free", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agency_id"),
    )
    op.create_index(
        "ix_routing_shelter_places_region", "routing_shelter_places", ["region"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_routing_shelter_places_region", table_name="routing_shelter_places")
    op.drop_table("routing_shelter_places")
