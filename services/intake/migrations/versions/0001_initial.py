"""Intake's first schema: cases, subjects, reports, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intake_cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("case_number", sa.String(40), nullable=False, unique=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("subject_kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("opened_at", AWARE, nullable=False),
    )
    op.create_table(
        "intake_subjects",
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("intake_cases.case_id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("full_name", sa.Text),
        sa.Column("birth_date", sa.Text),
        sa.Column("iin", sa.Text),
        sa.Column("sex", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("iin_hash", sa.String(64)),
        sa.Column("identity_hash", sa.String(64)),
    )
    op.create_index("ix_intake_subjects_case_id", "intake_subjects", ["case_id"])
    op.create_index("ix_intake_subjects_iin_hash", "intake_subjects", ["iin_hash"])
    op.create_index("ix_intake_subjects_identity_hash", "intake_subjects", ["identity_hash"])
    op.create_table(
        "intake_reports",
        sa.Column("report_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("intake_cases.case_id"), nullable=False),
        sa.Column("reporter_agency_type", sa.String(40), nullable=False),
        sa.Column("reporter_agency_id", sa.String(80)),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("registered_at", AWARE, nullable=False),
        sa.Column("concerns", sa.Text, nullable=False),
        sa.Column("signs", sa.Text, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("narrative", sa.Text),
        sa.Column("joined", sa.Boolean, nullable=False),
    )
    op.create_index("ix_intake_reports_case_id", "intake_reports", ["case_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("sent_at", AWARE, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("subject", "event_id", name="uq_outbox_subject_event"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handled_at", AWARE, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_index("ix_outbox_sent_at", "outbox")
    op.drop_table("outbox")
    op.drop_table("intake_reports")
    op.drop_table("intake_subjects")
    op.drop_table("intake_cases")
