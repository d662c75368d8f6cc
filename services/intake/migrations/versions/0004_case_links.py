"""Links from an adult victim's case to the cases of the children who came with the adult.

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
    op.create_table(
        "intake_case_links",
        sa.Column(
            "adult_case_id",
            sa.String(36),
            sa.ForeignKey("intake_cases.case_id"),
            primary_key=True,
        ),
        sa.Column(
            "child_case_id",
            sa.String(36),
            sa.ForeignKey("intake_cases.case_id"),
            primary_key=True,
        ),
        sa.Column("identified", sa.Boolean, nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intake_case_links_child_case_id", "intake_case_links", ["child_case_id"])


def downgrade() -> None:
    op.drop_index("ix_intake_case_links_child_case_id", table_name="intake_case_links")
    op.drop_table("intake_case_links")
