"""Deadlines' settlements that arrive before their obligation opens (shared.settlements), kept
in its own table and logged."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.deadlines.handlers.common import log
from services.deadlines.tables import PendingSettlement
from shared import settlements
from shared.settlements import Settlement, hold

__all__ = ["hold", "keep", "take"]


def keep(session: Session, event: Settlement, *, now: datetime) -> None:
    """Keep an early fulfilment or cancellation until its obligation opens."""
    if settlements.keep(session, PendingSettlement, event, now=now):
        log.info("kept %s of obligation %s until it opens", event.NAME, event.obligation_id)


def take(session: Session, *, obligation_id: str, now: datetime) -> list[Settlement]:
    """Return the kept settlements of an obligation, oldest first, marking them applied."""
    return settlements.take(session, PendingSettlement, obligation_id=obligation_id, now=now)
