"""Casework's first schema: obligations it knows and their due times, actions with proof, the
caseload, case managers, the assessment and the plan (encrypted), plan lines given to agencies,
the directory replica, outbox, inbox and audit log.

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
        "casework_actions",
        sa.Column("action_id", sa.String(36), nullable=False),
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("person_id", sa.String(120), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("done_at", AWARE, nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("approved_by", sa.String(120), nullable=True),
        sa.Column("approved_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("action_id"),
    )
    with op.batch_alter_table("casework_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casework_actions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_casework_actions_obligation_id"), ["obligation_id"], unique=False
        )

    op.create_table(
        "casework_agencies",
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("name_kk", sa.String(300), nullable=False),
        sa.Column("name_ru", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("agency_id"),
    )
    op.create_table(
        "casework_assessments",
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_at", AWARE, nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_table(
        "casework_cases",
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("body_agency_id", sa.String(80), nullable=False),
        sa.Column("body_agency_type", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("arrived_at", AWARE, nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("closed_at", AWARE, nullable=True),
        sa.Column("closed_by", sa.String(120), nullable=True),
        sa.Column("close_grounds", sa.String(40), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("casework_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_casework_cases_body_agency_id"), ["body_agency_id"], unique=False
        )

    op.create_table(
        "casework_due_times",
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("due_at", AWARE, nullable=True),
        sa.Column("breached_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("obligation_id"),
    )
    op.create_table(
        "casework_manager_assignments",
        sa.Column("assignment_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("person_id", sa.String(120), nullable=False),
        sa.Column("assigned_by", sa.String(120), nullable=False),
        sa.Column("assigned_at", AWARE, nullable=False),
        sa.Column("ended_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("assignment_id"),
    )
    with op.batch_alter_table("casework_manager_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_casework_manager_assignments_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "casework_obligations",
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("producer", sa.String(20), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(200), nullable=False),
        sa.Column("actor_agency_type", sa.String(40), nullable=False),
        sa.Column("actor_agency_id", sa.String(80), nullable=True),
        sa.Column("target_agency_type", sa.String(40), nullable=True),
        sa.Column("target_agency_id", sa.String(80), nullable=True),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("met_at", AWARE, nullable=True),
        sa.Column("met_by_agency_id", sa.String(80), nullable=True),
        sa.Column("met_by_platform", sa.Boolean(), nullable=False),
        sa.Column("cancel_reason", sa.String(200), nullable=True),
        sa.Column("plan_line_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("obligation_id"),
    )
    with op.batch_alter_table("casework_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_casework_obligations_actor_agency_id"), ["actor_agency_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_casework_obligations_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_casework_obligations_plan_line_id"), ["plan_line_id"], unique=False
        )

    op.create_table(
        "casework_plan_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(36), nullable=False),
        sa.Column("line_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("assigned_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "line_id", name="uq_casework_plan_line"),
    )
    with op.batch_alter_table("casework_plan_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_casework_plan_lines_agency_id"), ["agency_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_casework_plan_lines_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_casework_plan_lines_plan_id"), ["plan_id"], unique=False
        )

    op.create_table(
        "casework_plans",
        sa.Column("plan_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("owner_agency_id", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_at", AWARE, nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    with op.batch_alter_table("casework_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_casework_plans_case_id"), ["case_id"], unique=False)

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
    with op.batch_alter_table("casework_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_plans_case_id"))

    op.drop_table("casework_plans")
    with op.batch_alter_table("casework_plan_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_plan_lines_plan_id"))
        batch_op.drop_index(batch_op.f("ix_casework_plan_lines_case_id"))
        batch_op.drop_index(batch_op.f("ix_casework_plan_lines_agency_id"))

    op.drop_table("casework_plan_lines")
    with op.batch_alter_table("casework_obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_obligations_plan_line_id"))
        batch_op.drop_index(batch_op.f("ix_casework_obligations_case_id"))
        batch_op.drop_index(batch_op.f("ix_casework_obligations_actor_agency_id"))

    op.drop_table("casework_obligations")
    with op.batch_alter_table("casework_manager_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_manager_assignments_case_id"))

    op.drop_table("casework_manager_assignments")
    op.drop_table("casework_due_times")
    with op.batch_alter_table("casework_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_cases_body_agency_id"))

    op.drop_table("casework_cases")
    op.drop_table("casework_assessments")
    op.drop_table("casework_agencies")
    with op.batch_alter_table("casework_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_casework_actions_obligation_id"))
        batch_op.drop_index(batch_op.f("ix_casework_actions_case_id"))

    op.drop_table("casework_actions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_case_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
