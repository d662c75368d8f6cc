"""The inbox: every consumer records the event ids it has handled and skips repeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from shared.db import AwareDateTime


class InboxEntry(SQLModel, table=True):
    """One handled event, per consumer."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=120)
    event_id: str = Field(primary_key=True, max_length=64)
    handled_at: datetime = Field(sa_type=AwareDateTime())  # type: ignore[call-overload]


def claim(session: Session, *, consumer: str, event_id: str, now: datetime) -> bool:
    """Record that consumer handles event_id in this transaction; False if it already did."""
    table: Table = InboxEntry.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # One statement, relying on the primary key: a twin being handled concurrently in another
    # transaction makes this one wait for it (PostgreSQL waits on the key, SQLite on the write
    # lock), then see its row once it commits (False) or take the key if it rolled back.
    # RETURNING tells whether the row went in: the rowcount SQLAlchemy reported through psycopg
    # was 1 for a conflicting row too.
    inserted = session.connection().execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id, handled_at=now)
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(table.c.event_id)
    )
    return inserted.first() is not None
