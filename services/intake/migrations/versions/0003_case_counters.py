"""Case numbers from a counter per region and year, seeded from the cases already numbered.

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


def upgrade() -> None:
    op.create_table(
        "intake_case_counters",
        sa.Column("region", sa.String(10), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_number", sa.Integer, nullable=False),
    )
    # A case number is "<region>-<year>-<serial>" (KZ-75-2026-000001): each counter starts at
    # the highest serial its region and year already gave, so numbering continues after it.
    op.execute(
        "INSERT INTO intake_case_counters (region, year, last_number) "
        "SELECT region, year, MAX(serial) FROM ("
        "SELECT region, "
        "CAST(SUBSTR(case_number, LENGTH(region) + 2, 4) AS INTEGER) AS year, "
        "CAST(SUBSTR(case_number, LENGTH(region) + 7) AS INTEGER) AS serial "
        "FROM intake_cases) AS numbered "
        "GROUP BY region, year"
    )


def downgrade() -> None:
    op.drop_table("intake_case_counters")
