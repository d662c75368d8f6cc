"""Fulfilments and cancellations that arrive before the obligation they settle has opened.

A consumer reads a producer's events in the order they were stored, but a producer's two
instances publish concurrently, and a redelivered opening comes after what followed it: a
fulfilment may arrive first. Each service that keeps obligations (deadlines, and the read models
of casework and the family centre) keeps such a settlement in its own table, built from the
columns here, on its first delivery, and applies it inside the opening's own transaction, with
the outcome it would have had in order. Nothing waits on the bus's redeliveries, whose last one
would dead-letter a met obligation and leave it open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, text
from sqlmodel import Field, Session, SQLModel, col, func, select

from shared.clock import Clock
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled
from shared.db import AwareDateTime, unit_of_work

AWARE = AwareDateTime()
log = logging.getLogger(__name__)

FULFILLED = "fulfilled"
CANCELLED = "cancelled"

Settlement = ObligationFulfilled | ObligationCancelled


class PendingSettlementColumns(SQLModel):
    """The columns of a settlement kept until its obligation opens; a table class names it."""

    # The event's id: a redelivery of the same early event is kept once.
    event_id: str = Field(primary_key=True, max_length=64)
    # The producer's obligation id (the series), as the event names it.
    obligation_id: str = Field(index=True, max_length=36)
    # "fulfilled" or "cancelled".
    kind: str = Field(max_length=20)
    # The event as it arrived (ids, codes and times only: events carry no personal data).
    body: str = Field(sa_type=sa.Text)  # type: ignore[call-overload]
    received_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    applied_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


def hold(session: Session, *, obligation_id: str) -> None:
    """Serialise the opening and the settlements of one obligation until commit (PostgreSQL)."""
    # Without it an opening and an early fulfilment committing together would each miss the
    # other's row; SQLite already serialises writers, and each handler writes (its inbox) first.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": obligation_id}
        )


def keep(
    session: Session,
    table: type[PendingSettlementColumns],
    event: Settlement,
    *,
    now: datetime,
) -> bool:
    """Keep an early fulfilment or cancellation until its obligation opens; False if kept before."""
    kind = FULFILLED if isinstance(event, ObligationFulfilled) else CANCELLED
    if session.get(table, str(event.event_id)) is not None:
        return False
    session.add(
        table(
            event_id=str(event.event_id),
            obligation_id=str(event.obligation_id),
            kind=kind,
            body=event.model_dump_json(),
            received_at=now,
        )
    )
    # Written at once: take() reads without flushing (openings are many, early ones few).
    session.flush()
    session.info[_none_waiting_key(session, table)] = False
    return True


# Where a SQLite transaction notes that no settlement of a table waits (read once).
_NONE_WAITING = "qorgau.settlements.none_waiting"


def _none_waiting_key(session: Session, table: type[PendingSettlementColumns]) -> tuple[Any, ...]:
    # Per transaction (held in the key: a later transaction of the session reads afresh).
    return (_NONE_WAITING, table.__tablename__, session.get_transaction())


def _none_waiting(session: Session, table: type[PendingSettlementColumns]) -> bool:
    """Tell, on SQLite, whether no settlement waits at all, read once per transaction."""
    # Openings are many and early settlements rare: one look a batch instead of one an opening.
    # Exact on SQLite only: the transaction has written (its inbox claims) before it opens
    # anything, so it holds the one write lock and no other writer commits until it ends. On
    # PostgreSQL a settlement kept meanwhile by another transaction must be seen, per opening.
    if session.get_bind().dialect.name != "sqlite":
        return False
    key = _none_waiting_key(session, table)
    known = session.info.get(key)
    if known is None:
        with session.no_autoflush:
            known = (
                session.exec(
                    select(table.event_id).where(col(table.applied_at).is_(None)).limit(1)
                ).first()
                is None
            )
        session.info[key] = known
    return bool(known)


def take(
    session: Session,
    table: type[PendingSettlementColumns],
    *,
    obligation_id: str,
    now: datetime,
) -> list[Settlement]:
    """Return the kept settlements of an obligation, oldest first, marking them applied."""
    if _none_waiting(session, table):
        return []
    with session.no_autoflush:
        rows = _waiting(session, table, obligation_id)
    found: list[Settlement] = []
    for row in rows:
        model = ObligationFulfilled if row.kind == FULFILLED else ObligationCancelled
        found.append(model.model_validate_json(row.body))
        row.applied_at = now
        session.add(row)
    return found


def waiting(
    session: Session, table: type[PendingSettlementColumns], *, before: datetime
) -> tuple[int, datetime | None]:
    """Count the settlements still waiting that arrived before a time, and the oldest's time."""
    count, oldest = session.exec(
        select(func.count(), func.min(table.received_at)).where(
            col(table.applied_at).is_(None), col(table.received_at) < before
        )
    ).one()
    return int(count), oldest


# An opening follows its early settlement within seconds (the other routing instance's publish,
# or a redelivery); one still missing after this is a defect or a lost opening to look into.
OVERDUE_AFTER = timedelta(minutes=10)


@dataclass
class Watch:
    """Notices settlements whose opening has not come: /health shows them, the log warns."""

    engine: Engine
    table: type[PendingSettlementColumns]
    clock: Clock
    overdue_after: timedelta = OVERDUE_AFTER
    _last: dict[str, Any] = field(default_factory=lambda: {"status": "unknown"})

    def step(self) -> bool:
        """Count the overdue settlements once (run in the background); never wakes the relay."""
        now = self.clock.now()
        with unit_of_work(self.engine) as session:
            count, oldest = waiting(session, self.table, before=now - self.overdue_after)
        self._last = {
            "status": "attention" if count else "ok",
            "overdue": count,
            "oldest_received_at": oldest.isoformat() if oldest is not None else None,
            "read_at": now.isoformat(),
        }
        if count:
            # Ids only: the obligation ids are in the table, for the operator who looks.
            log.warning(
                "%d settlements have waited over %s for their obligation to open (oldest %s)",
                count,
                self.overdue_after,
                self._last["oldest_received_at"],
            )
        return False

    def health(self) -> dict[str, Any]:
        """Return the last count as /health shows it (no I/O)."""
        return dict(self._last)


def _waiting(
    session: Session, table: type[PendingSettlementColumns], obligation_id: str
) -> Sequence[PendingSettlementColumns]:
    return session.exec(
        select(table)
        .where(table.obligation_id == obligation_id, col(table.applied_at).is_(None))
        .order_by(col(table.received_at), col(table.event_id))
    ).all()
