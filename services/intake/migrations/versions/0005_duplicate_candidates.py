"""Possible duplicates: cases whose subjects share a name, birth date and region.

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

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intake_duplicate_candidates",
        sa.Column("candidate_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("intake_cases.case_id"), nullable=False),
        sa.Column(
            "earlier_case_id",
            sa.String(36),
            sa.ForeignKey("intake_cases.case_id"),
            nullable=False,
        ),
        sa.Column("basis", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("found_at", AWARE, nullable=False),
        sa.Column("decided_at", AWARE, nullable=True),
        sa.Column("decided_by_agency_id", sa.String(80), nullable=True),
        sa.UniqueConstraint("case_id", "earlier_case_id", name="uq_intake_duplicate_pair"),
    )
    op.create_index(
        "ix_intake_duplicate_candidates_case_id", "intake_duplicate_candidates", ["case_id"]
    )
    op.create_index(
        "ix_intake_duplicate_candidates_earlier_case_id",
        "intake_duplicate_candidates",
        ["earlier_case_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_intake_duplicate_candidates_earlier_case_id", table_name="intake_duplicate_candidates"
    )
    op.drop_index(
        "ix_intake_duplicate_candidates_case_id", table_name="intake_duplicate_candidates"
    )
    op.drop_table("intake_duplicate_candidates")
