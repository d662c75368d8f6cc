"""Rooms with their places, the reports the centre owes intake (the children admitted with a
person), the support measures of p.23, and the intake case ids on a stay.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
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
    with op.batch_alter_table("familycentre_stays", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intake_case_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("child_case_ids", sa.Text(), nullable=True))

    op.create_table(
        "familycentre_rooms",
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("room", sa.String(40), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("updated_at", AWARE, nullable=False),
        sa.PrimaryKeyConstraint("centre_agency_id", "room"),
    )

    op.create_table(
        "familycentre_intake_reports",
        sa.Column("report_key", sa.String(36), nullable=False),
        sa.Column("stay_id", sa.String(36), nullable=False),
        sa.Column("created_at", AWARE, nullable=False),
        sa.Column("sent_at", AWARE, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("intake_case_id", sa.String(36), nullable=True),
        sa.Column("intake_report_id", sa.String(36), nullable=True),
        sa.Column("child_case_ids", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("report_key"),
    )
    with op.batch_alter_table("familycentre_intake_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_intake_reports_sent_at"), ["sent_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_familycentre_intake_reports_stay_id"), ["stay_id"], unique=False
        )

    op.create_table(
        "familycentre_support_measures",
        sa.Column("measure_id", sa.String(36), nullable=False),
        sa.Column("appeal_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("centre_agency_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("provided_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.Column("recorded_by", sa.String(120), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("measure_id"),
    )
    with op.batch_alter_table("familycentre_support_measures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_familycentre_support_measures_appeal_id"), ["appeal_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("familycentre_support_measures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_support_measures_appeal_id"))
    op.drop_table("familycentre_support_measures")
    with op.batch_alter_table("familycentre_intake_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_familycentre_intake_reports_stay_id"))
        batch_op.drop_index(batch_op.f("ix_familycentre_intake_reports_sent_at"))
    op.drop_table("familycentre_intake_reports")
    op.drop_table("familycentre_rooms")
    with op.batch_alter_table("familycentre_stays", schema=None) as batch_op:
        batch_op.drop_column("child_case_ids")
        batch_op.drop_column("intake_case_id")
