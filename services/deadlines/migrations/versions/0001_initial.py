"""Deadlines' first schema: obligations, outbox, inbox.

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
        "deadlines_obligations",
        sa.Column("obligation_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(120), nullable=False),
        sa.Column("actor_agency_type", sa.String(40), nullable=False),
        sa.Column("actor_agency_id", sa.String(80)),
        sa.Column("target_agency_type", sa.String(40)),
        sa.Column("target_agency_id", sa.String(80)),
        sa.Column("region", sa.String(10)),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("due_at", AWARE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("met_at", AWARE),
        sa.Column("met_by_agency_id", sa.String(80)),
        sa.Column("met_by_platform", sa.Boolean, nullable=False),
        sa.Column("on_time", sa.Boolean),
        sa.Column("opened_by", sa.String(40), nullable=False),
        sa.Column("opened_at", AWARE, nullable=False),
    )
    op.create_index("ix_deadlines_obligations_case_id", "deadlines_obligations", ["case_id"])
    op.create_index("ix_deadlines_obligations_due_at", "deadlines_obligations", ["due_at"])
    op.create_index("ix_deadlines_obligations_status", "deadlines_obligations", ["status"])
    op.create_index(
        "ix_deadlines_obligations_actor_agency_id", "deadlines_obligations", ["actor_agency_id"]
    )
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
    op.drop_table("deadlines_obligations")
