"""The inbox: every consumer records the event ids it has handled and skips repeats."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from shared.db import AwareDateTime


class InboxEntry(SQLModel, table=True):
    """One handled event, per consumer."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=120)
    event_id: str = Field(primary_key=True, max_length=64)
    handled_at: datetime = Field(sa_type=AwareDateTime())  # type: ignore[call-overload]


def claim(session: Session, *, consumer: str, event_id: str, now: datetime) -> bool:
    """Record that consumer handles event_id in this transaction; False if it already did."""
    seen = session.exec(
        select(InboxEntry).where(InboxEntry.consumer == consumer, InboxEntry.event_id == event_id)
    ).first()
    if seen is not None:
        return False
    session.add(InboxEntry(consumer=consumer, event_id=event_id, handled_at=now))
    # Flushing takes the primary key now, so a concurrent twin fails here, not silently later.
    session.flush()
    return True
