"""Fulfilments and cancellations that arrive before the obligation they settle has opened.

Deadlines reads a producer's events in the order they were stored, but a producer's two
instances publish concurrently, and a redelivered opening comes after what followed it: a
fulfilment may reach deadlines first. It is kept here, on its first delivery, and applied
inside the opening's own transaction, with the outcome it would have had in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from services.deadlines.handlers.common import log
from services.deadlines.tables import PendingSettlement
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled

FULFILLED = "fulfilled"
CANCELLED = "cancelled"

Settlement = ObligationFulfilled | ObligationCancelled


def hold(session: Session, *, obligation_id: str) -> None:
    """Serialise the opening and the settlements of one obligation until commit (PostgreSQL)."""
    # Without it an opening and an early fulfilment committing together would each miss the
    # other's row; SQLite already serialises writers, and each handler writes (its inbox) first.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": obligation_id}
        )


def keep(session: Session, event: Settlement, *, now: datetime) -> None:
    """Keep an early fulfilment or cancellation until its obligation opens."""
    kind = FULFILLED if isinstance(event, ObligationFulfilled) else CANCELLED
    if session.get(PendingSettlement, str(event.event_id)) is not None:
        return
    session.add(
        PendingSettlement(
            event_id=str(event.event_id),
            obligation_id=str(event.obligation_id),
            kind=kind,
            body=event.model_dump_json(),
            received_at=now,
        )
    )
    # Written at once: take() reads without flushing (openings are many, early ones few).
    session.flush()
    log.info("kept %s of obligation %s until it opens", kind, event.obligation_id)


def take(session: Session, *, obligation_id: str, now: datetime) -> list[Settlement]:
    """Return the kept settlements of an obligation, oldest first, marking them applied."""
    with session.no_autoflush:
        rows = _waiting(session, obligation_id)
    found: list[Settlement] = []
    for row in rows:
        model = ObligationFulfilled if row.kind == FULFILLED else ObligationCancelled
        found.append(model.model_validate_json(row.body))
        row.applied_at = now
        session.add(row)
    return found


def _waiting(session: Session, obligation_id: str) -> Sequence[PendingSettlement]:
    return session.exec(
        select(PendingSettlement)
        .where(
            PendingSettlement.obligation_id == obligation_id,
            col(PendingSettlement.applied_at).is_(None),
        )
        .order_by(col(PendingSettlement.received_at), col(PendingSettlement.event_id))
    ).all()
