"""Timers, escalation, the case timeline and the calendar overrides.

- deadlines_obligations: due_at nullable (term "none"); warn_at/warned/warned_at for the due-soon
  warning; breached_at/fired_at; cancelled_at/cancel_reason; series_id/occurrence for recurring
  duties; escalation_level/escalates_obligation_id/root_obligation_id; trace_context, correlation_id,
  opened_event_id; the poller's composite indexes.
- deadlines_case_timeline, deadlines_calendar_overrides, deadlines_calendar_state,
  deadlines_poller.

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
TABLE = "deadlines_obligations"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("due_at", existing_type=AWARE, nullable=True)
        batch.add_column(sa.Column("warn_at", AWARE))
        batch.add_column(sa.Column("warned", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("warned_at", AWARE))
        batch.add_column(sa.Column("breached_at", AWARE))
        batch.add_column(sa.Column("fired_at", AWARE))
        batch.add_column(sa.Column("cancelled_at", AWARE))
        batch.add_column(sa.Column("cancel_reason", sa.String(200)))
        batch.add_column(sa.Column("series_id", sa.String(36)))
        batch.add_column(sa.Column("occurrence", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("escalates_obligation_id", sa.String(36)))
        batch.add_column(sa.Column("root_obligation_id", sa.String(36)))
        batch.add_column(
            sa.Column("trace_context", sa.String(400), nullable=False, server_default="{}")
        )
        batch.add_column(sa.Column("correlation_id", sa.String(36)))
        batch.add_column(sa.Column("opened_event_id", sa.String(64)))
    op.execute("UPDATE deadlines_obligations SET series_id = obligation_id WHERE series_id IS NULL")
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("series_id", existing_type=sa.String(36), nullable=False)
    op.create_index("ix_deadlines_obligations_series_id", TABLE, ["series_id"])
    op.create_index(
        "ix_deadlines_obligations_escalates_obligation_id", TABLE, ["escalates_obligation_id"]
    )
    op.create_index("ix_deadlines_obligations_status_due_at", TABLE, ["status", "due_at"])
    op.create_index(
        "ix_deadlines_obligations_status_warned_warn_at", TABLE, ["status", "warned", "warn_at"]
    )

    op.create_table(
        "deadlines_case_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(120), nullable=False),
        sa.Column("occurred_at", AWARE, nullable=False),
        sa.Column("recorded_at", AWARE, nullable=False),
        sa.Column("agency_id", sa.String(80)),
        sa.Column("agency_type", sa.String(40)),
        sa.Column("target_agency_id", sa.String(80)),
        sa.Column("target_agency_type", sa.String(40)),
        sa.Column("obligation_id", sa.String(36)),
        sa.Column("code", sa.String(10)),
        sa.Column("acted_at", AWARE),
        sa.Column("on_time", sa.Boolean),
        sa.UniqueConstraint("event_id", "event", name="uq_deadlines_case_timeline_event"),
    )
    op.create_index("ix_deadlines_case_timeline_case_id", "deadlines_case_timeline", ["case_id"])

    op.create_table(
        "deadlines_calendar_overrides",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("added_at", AWARE, nullable=False),
    )
    state = op.create_table(
        "deadlines_calendar_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", AWARE),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0, "changed_at": None}])
    poller = op.create_table(
        "deadlines_poller",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("ticked_at", AWARE),
    )
    op.bulk_insert(poller, [{"name": "poller", "ticked_at": None}])


def downgrade() -> None:
    op.drop_table("deadlines_poller")
    op.drop_table("deadlines_calendar_state")
    op.drop_table("deadlines_calendar_overrides")
    op.drop_index("ix_deadlines_case_timeline_case_id", "deadlines_case_timeline")
    op.drop_table("deadlines_case_timeline")
    op.drop_index("ix_deadlines_obligations_status_warned_warn_at", TABLE)
    op.drop_index("ix_deadlines_obligations_status_due_at", TABLE)
    op.drop_index("ix_deadlines_obligations_escalates_obligation_id", TABLE)
    op.drop_index("ix_deadlines_obligations_series_id", TABLE)
    # Obligations without a term cannot go back to a schema where due_at is required.
    op.execute("DELETE FROM deadlines_obligations WHERE due_at IS NULL")
    with op.batch_alter_table(TABLE) as batch:
        for column in (
            "opened_event_id",
            "correlation_id",
            "trace_context",
            "root_obligation_id",
            "escalates_obligation_id",
            "escalation_level",
            "occurrence",
            "series_id",
            "cancel_reason",
            "cancelled_at",
            "fired_at",
            "breached_at",
            "warned_at",
            "warned",
            "warn_at",
        ):
            batch.drop_column(column)
        batch.alter_column("due_at", existing_type=AWARE, nullable=False)
