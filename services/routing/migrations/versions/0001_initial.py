"""Routing's first schema: agency directory, referrals, outbox, inbox.

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
        "routing_agencies",
        sa.Column("agency_id", sa.String(80), primary_key=True),
        sa.Column("agency_type", sa.String(40), nullable=False),
        sa.Column("region", sa.String(10)),
        sa.Column("district", sa.String(120)),
        sa.Column("name_kk", sa.String(300), nullable=False),
        sa.Column("name_ru", sa.String(300), nullable=False),
        sa.Column("name_en", sa.String(300), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_routing_agencies_agency_type", "routing_agencies", ["agency_type"])
    op.create_index("ix_routing_agencies_region", "routing_agencies", ["region"])
    op.create_table(
        "routing_referrals",
        sa.Column("referral_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36)),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(120), nullable=False),
        sa.Column("from_agency_type", sa.String(40), nullable=False),
        sa.Column("from_agency_id", sa.String(80)),
        sa.Column("to_agency_type", sa.String(40), nullable=False),
        sa.Column("to_agency_id", sa.String(80), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("issued_at", AWARE, nullable=False),
        sa.Column("answered_at", AWARE),
        sa.Column("decline_reason", sa.String(500)),
    )
    op.create_index("ix_routing_referrals_case_id", "routing_referrals", ["case_id"])
    op.create_index("ix_routing_referrals_to_agency_id", "routing_referrals", ["to_agency_id"])
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
    op.drop_table("routing_referrals")
    op.drop_table("routing_agencies")
