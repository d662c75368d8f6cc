"""Tables every service's first migration creates: the outbox and the inbox."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_outbox_and_inbox() -> None:
    """Create the outbox and inbox tables (shared plumbing, one copy per service database)."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("subject", "event_id", name="uq_outbox_subject_event"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )


def drop_outbox_and_inbox() -> None:
    """Drop what create_outbox_and_inbox made."""
    op.drop_table("inbox")
    op.drop_index("ix_outbox_sent_at", "outbox")
    op.drop_table("outbox")
