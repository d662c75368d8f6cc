"""Who may see what: case access, the audit log, the legal basis of forwarding.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.audit import create_audit_tables, drop_audit_tables
from shared.auth import create_case_access_table, drop_case_access_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_case_access_table()
    create_audit_tables()
    with op.batch_alter_table("intake_reports") as batch:
        batch.add_column(sa.Column("forwarded_under", sa.String(80), nullable=True))
    # Reports made before this revision relate their reporters to their cases.
    op.execute(
        "INSERT INTO case_access (case_id, agency_id, relation, source, granted_at) "
        "SELECT case_id, reporter_agency_id, 'reporter', 'migration 0002', "
        "MIN(registered_at) FROM intake_reports WHERE reporter_agency_id IS NOT NULL "
        "GROUP BY case_id, reporter_agency_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("intake_reports") as batch:
        batch.drop_column("forwarded_under")
    drop_audit_tables()
    drop_case_access_table()
