"""Shelter's first schema: stays (personal data encrypted), the obligations it opens, the steps
recorded on a stay, referrals delivered to its shelters, reports owed to intake, outbox, inbox
and audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
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
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_case_id"), ["case_id"], unique=False)

    op.create_table(
        "shelter_intake_reports",
        sa.Column("report_key", sa.String(36), nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("sent_at", AWARE, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("intake_case_id", sa.String(36), nullable=True),
        sa.Column("intake_report_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("report_key"),
    )
    with op.batch_alter_table("shelter_intake_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_intake_reports_sent_at"), ["sent_at"], unique=False
        )
    with op.batch_alter_table("shelter_intake_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_intake_reports_stay_id"), ["stay_id"], unique=False
        )
    op.create_table(
        "shelter_obligations",
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(200), nullable=False),
        sa.Column("actor_agency_type", sa.String(40), nullable=False),
        sa.Column("actor_agency_id", sa.String(80), nullable=True),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("met_at", AWARE, nullable=True),
        sa.Column("met_by_agency_id", sa.String(80), nullable=True),
        sa.Column("cancel_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("obligation_id"),
    )
    with op.batch_alter_table("shelter_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_obligations_actor_agency_id"), ["actor_agency_id"], unique=False
        )
    with op.batch_alter_table("shelter_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_obligations_case_id"), ["case_id"], unique=False
        )
    with op.batch_alter_table("shelter_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_obligations_stay_id"), ["stay_id"], unique=False
        )
    op.create_table(
        "shelter_records",
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("legal_basis", sa.String(200), nullable=False),
        sa.Column("at", AWARE, nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.Column("person_id", sa.String(120), nullable=False),
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("record_id"),
    )
    with op.batch_alter_table("shelter_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shelter_records_stay_id"), ["stay_id"], unique=False)
    op.create_table(
        "shelter_referrals",
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("from_agency_type", sa.String(40), nullable=False),
        sa.Column("from_agency_id", sa.String(80), nullable=True),
        sa.Column("shelter_agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("issued_at", AWARE, nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    with op.batch_alter_table("shelter_referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_referrals_shelter_agency_id"),
            ["shelter_agency_id"],
            unique=False,
        )
    op.create_table(
        "shelter_stays",
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("shelter_agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("arrival", sa.String(20), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=True),
        sa.Column("referred_by_type", sa.String(40), nullable=True),
        sa.Column("referred_by_id", sa.String(80), nullable=True),
        sa.Column("parent_stay_id", sa.String(36), nullable=True),
        sa.Column("minor", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("admission", sa.Integer(), nullable=False),
        sa.Column("arrived_at", AWARE, nullable=False),
        sa.Column("consent_at", AWARE, nullable=True),
        sa.Column("refuses_police", sa.Boolean(), nullable=False),
        sa.Column("intake_case_id", sa.String(36), nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.Column("personal", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stay_id"),
    )
    with op.batch_alter_table("shelter_stays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shelter_stays_case_id"), ["case_id"], unique=False)
    with op.batch_alter_table("shelter_stays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_stays_parent_stay_id"), ["parent_stay_id"], unique=False
        )
    with op.batch_alter_table("shelter_stays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shelter_stays_shelter_agency_id"), ["shelter_agency_id"], unique=False
        )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(120), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("handled_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("sent_at", AWARE, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject", "event_id", name="uq_outbox_subject_event"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_sent_at"), ["sent_at"], unique=False)
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sent_at"))

    op.drop_table("outbox")
    op.drop_table("inbox")
    with op.batch_alter_table("shelter_stays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_stays_case_id"))
        batch_op.drop_index(batch_op.f("ix_shelter_stays_parent_stay_id"))
        batch_op.drop_index(batch_op.f("ix_shelter_stays_shelter_agency_id"))

    op.drop_table("shelter_stays")
    with op.batch_alter_table("shelter_referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_referrals_shelter_agency_id"))

    op.drop_table("shelter_referrals")
    with op.batch_alter_table("shelter_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_records_stay_id"))

    op.drop_table("shelter_records")
    with op.batch_alter_table("shelter_obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_obligations_actor_agency_id"))
        batch_op.drop_index(batch_op.f("ix_shelter_obligations_case_id"))
        batch_op.drop_index(batch_op.f("ix_shelter_obligations_stay_id"))

    op.drop_table("shelter_obligations")
    with op.batch_alter_table("shelter_intake_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shelter_intake_reports_sent_at"))
        batch_op.drop_index(batch_op.f("ix_shelter_intake_reports_stay_id"))

    op.drop_table("shelter_intake_reports")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_case_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
