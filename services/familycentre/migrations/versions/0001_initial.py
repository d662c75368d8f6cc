"""The family centre's first schema: appeals, obligations, plans (encrypted), mobile groups,
stays, the directory replica, outbox, inbox and audit log.

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
        "familycentre_agencies",
        sa.Column("agency_id", sa.String(80), nullable=False),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("name_kk", sa.String(300), nullable=False),
        sa.Column("name_ru", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("agency_id"),
    )

    op.create_table(
        "familycentre_appeals",
        sa.Column("appeal_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.Column("recorded_by", sa.String(120), nullable=False),
        sa.Column("threat_to_life", sa.Boolean(), nullable=False),
        sa.Column("domestic_violence", sa.Boolean(), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=True),
        sa.Column("consent_given_on", sa.Date(), nullable=True),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("response_kind", sa.String(40), nullable=True),
        sa.Column("redirected_to", sa.String(80), nullable=True),
        sa.Column("responded_at", AWARE, nullable=True),
        sa.Column("assessed_at", AWARE, nullable=True),
        sa.Column("difficult_situation", sa.Boolean(), nullable=True),
        sa.Column("assessment", sa.Text(), nullable=True),
        sa.Column("needs_at", AWARE, nullable=True),
        sa.Column("needs", sa.Text(), nullable=True),
        sa.Column("group_id", sa.String(36), nullable=True),
        sa.Column("engaged_at", AWARE, nullable=True),
        sa.Column("shelter_agency_id", sa.String(80), nullable=True),
        sa.Column("shelter_referred_at", AWARE, nullable=True),
        sa.PrimaryKeyConstraint("appeal_id"),
    )
    with op.batch_alter_table("familycentre_appeals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_appeals_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_appeals_centre_agency_id"),
            ["centre_agency_id"],
            unique=False,
        )

    op.create_table(
        "familycentre_mobile_groups",
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("coordinator_agency_id", sa.String(80), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("order_ref", sa.String(120), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    with op.batch_alter_table("familycentre_mobile_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_mobile_groups_centre_agency_id"),
            ["centre_agency_id"],
            unique=False,
        )

    op.create_table(
        "familycentre_obligations",
        sa.Column("obligation_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("producer", sa.String(20), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(200), nullable=False),
        sa.Column("actor_agency_type", sa.String(40), nullable=False),
        sa.Column("actor_agency_id", sa.String(80), nullable=True),
        sa.Column("target_agency_type", sa.String(40), nullable=True),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("met_at", AWARE, nullable=True),
        sa.Column("met_by_agency_id", sa.String(80), nullable=True),
        sa.Column("cancel_reason", sa.String(200), nullable=True),
        sa.Column("plan_id", sa.String(36), nullable=True),
        sa.Column("line_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("obligation_id"),
    )
    with op.batch_alter_table("familycentre_obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_obligations_actor_agency_id"),
            ["actor_agency_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_obligations_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_obligations_plan_id"), ["plan_id"], unique=False
        )

    op.create_table(
        "familycentre_plans",
        sa.Column("plan_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("appeal_id", sa.String(36), nullable=False),
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approved_at", AWARE, nullable=True),
        sa.Column("ended_ground", sa.String(40), nullable=True),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id"),
    )
    with op.batch_alter_table("familycentre_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_plans_appeal_id"), ["appeal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_plans_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "familycentre_stays",
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("appeal_id", sa.String(36), nullable=True),
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("basis", sa.String(40), nullable=False),
        sa.Column("room", sa.String(40), nullable=False),
        sa.Column("admitted_at", AWARE, nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("left_at", AWARE, nullable=True),
        sa.Column("accompanying_minors", sa.Integer(), nullable=False),
        sa.Column("people", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stay_id"),
    )
    with op.batch_alter_table("familycentre_stays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_stays_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_stays_centre_agency_id"), ["centre_agency_id"], unique=False
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
    with op.batch_alter_table("familycentre_stays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_stays_centre_agency_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_stays_case_id"))
    op.drop_table("familycentre_stays")
    with op.batch_alter_table("familycentre_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_plans_case_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_plans_appeal_id"))
    op.drop_table("familycentre_plans")
    with op.batch_alter_table("familycentre_obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_obligations_plan_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_obligations_case_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_obligations_actor_agency_id"))
    op.drop_table("familycentre_obligations")
    with op.batch_alter_table("familycentre_mobile_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_mobile_groups_centre_agency_id"))
    op.drop_table("familycentre_mobile_groups")
    with op.batch_alter_table("familycentre_appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_appeals_centre_agency_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_appeals_case_id"))
    op.drop_table("familycentre_appeals")
    op.drop_table("familycentre_agencies")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sent_at"))

    op.drop_table("outbox")
    op.drop_table("inbox")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_case_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
