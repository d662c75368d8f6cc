"""Individual work plans (S14, Appendix 1) on the shared plan model, encrypted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shelter_plans",
        sa.Column("plan_id", sa.String(36), nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_at", AWARE, nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    with op.batch_alter_table("shelter_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shelter_plans_stay_id"), ["stay_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shelter_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_plans_stay_id"))

    op.drop_table("shelter_plans")
