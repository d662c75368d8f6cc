"""Who may see what: case access, the audit log, the legal basis of forwarding.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)
# The hash an empty chain starts from: the head's first "previous entry".
GENESIS = "0" * 64
# The database itself refuses to change or remove an entry of the append-only log.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
PG_TRIGGERS = (
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
)


def upgrade() -> None:
    op.create_table(
        "case_access",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("agency_id", sa.String(80), primary_key=True),
        sa.Column("relation", sa.String(20), primary_key=True),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("granted_at", AWARE, nullable=False),
    )
    op.create_index("ix_case_access_agency_id", "case_access", ["agency_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(36)),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(80)),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(200)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_case_id", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_case_access_agency_id", "case_access")
    op.drop_table("case_access")
