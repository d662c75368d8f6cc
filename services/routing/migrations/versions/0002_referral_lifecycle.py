"""Routing's cases, obligations, and the referral lifecycle (answers, re-routes, ack timer).

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


def upgrade() -> None:
    op.create_table(
        "routing_cases",
        sa.Column("case_id", sa.String(36), primary_key=True),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("subject_kind", sa.String(10), nullable=False),
        sa.Column("concerns", sa.Text, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("reporter_agency_type", sa.String(40), nullable=False),
        sa.Column("reporter_agency_id", sa.String(80)),
        sa.Column("received_at", AWARE, nullable=False),
        sa.Column("first_report_id", sa.String(36), nullable=False),
        sa.Column("opened_at", AWARE, nullable=False),
    )
    op.create_table(
        "routing_obligations",
        sa.Column("obligation_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("duty_key", sa.String(200), nullable=False),
        sa.Column("report_id", sa.String(36)),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("legal_basis", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor_agency_type", sa.String(40), nullable=False),
        sa.Column("actor_agency_id", sa.String(80)),
        sa.Column("target_agency_type", sa.String(40)),
        sa.Column("target_agency_id", sa.String(80)),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("term", sa.String(40), nullable=False),
        sa.Column("started_at", AWARE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("met_at", AWARE),
        sa.Column("met_by_platform", sa.Boolean, nullable=False),
        sa.Column("met_by_agency_id", sa.String(80)),
        sa.Column("via_referral_id", sa.String(36)),
        sa.UniqueConstraint("case_id", "duty_key", name="uq_routing_duty"),
    )
    op.create_index("ix_routing_obligations_case_id", "routing_obligations", ["case_id"])
    op.create_index(
        "ix_routing_obligations_via_referral_id", "routing_obligations", ["via_referral_id"]
    )
    with op.batch_alter_table("routing_referrals") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(20), nullable=False, server_default="transfer")
        )
        batch.add_column(sa.Column("role", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("answered_via", sa.String(10)))
        batch.add_column(sa.Column("chain_id", sa.String(36), nullable=False, server_default=""))
        batch.add_column(sa.Column("replaces_referral_id", sa.String(36)))
        batch.add_column(sa.Column("obligation_id", sa.String(36)))
        batch.add_column(sa.Column("escalation_obligation_id", sa.String(36)))
        batch.add_column(sa.Column("ack_due_at", AWARE))
        batch.add_column(sa.Column("unacknowledged_at", AWARE))
    # Referrals of the walking skeleton: each is the start of its own chain, acting as its type.
    op.execute(
        "UPDATE routing_referrals SET chain_id = referral_id, role = to_agency_type "
        "WHERE chain_id = ''"
    )
    op.create_index("ix_routing_referrals_chain_id", "routing_referrals", ["chain_id"])
    op.create_index("ix_routing_referrals_ack_due_at", "routing_referrals", ["ack_due_at"])


def downgrade() -> None:
    op.drop_index("ix_routing_referrals_ack_due_at", "routing_referrals")
    op.drop_index("ix_routing_referrals_chain_id", "routing_referrals")
    with op.batch_alter_table("routing_referrals") as batch:
        for column in (
            "unacknowledged_at",
            "ack_due_at",
            "escalation_obligation_id",
            "obligation_id",
            "replaces_referral_id",
            "chain_id",
            "answered_via",
            "role",
            "purpose",
        ):
            batch.drop_column(column)
    op.drop_index("ix_routing_obligations_via_referral_id", "routing_obligations")
    op.drop_index("ix_routing_obligations_case_id", "routing_obligations")
    op.drop_table("routing_obligations")
    op.drop_table("routing_cases")
