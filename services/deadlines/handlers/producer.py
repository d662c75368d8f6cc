"""Everything one producer publishes, read once: each event's timeline entry, and for the three
obligation events the obligation's own change, in the same transaction.

Read by four consumers (the timeline, then opened, fulfilled and cancelled), every obligation
event was fetched, decoded and committed twice; a report's fifty routing events were some
ninety deliveries to deadlines. One consumer per producer also hands a producer's opening and
its fulfilment over in the order they were published. Each part keeps the inbox entry it had
under its own consumer, so a message already applied under those is not applied again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.deadlines.handlers.common import DeadlinesDeps, TimelineRow
from services.deadlines.handlers.obligations import (
    CANCELLED_INBOX,
    FULFILLED_INBOX,
    OPENED_INBOX,
    apply_obligation_cancelled,
    apply_obligation_fulfilled,
    apply_obligation_opened,
)
from services.deadlines.handlers.timeline import TIMELINE_INBOX, apply_case_entry, case_entry
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.inbox import claim

Change = ObligationOpened | ObligationFulfilled | ObligationCancelled


@dataclass(frozen=True)
class _Kind:
    """An obligation event: its contract, its inbox entry, and how it changes the obligation."""

    model: type[Change]
    inbox: str
    apply: Callable[..., None]


_KINDS: tuple[_Kind, ...] = (
    _Kind(ObligationOpened, OPENED_INBOX, apply_obligation_opened),
    _Kind(ObligationFulfilled, FULFILLED_INBOX, apply_obligation_fulfilled),
    _Kind(ObligationCancelled, CANCELLED_INBOX, apply_obligation_cancelled),
)
# "obligation_opened.v1" -> its kind: the subject's tail after `qorgau.<producer>.`.
_BY_TAIL = {f"{kind.model.NAME}.v{kind.model.VERSION}": kind for kind in _KINDS}


@dataclass(frozen=True)
class ProducerEvent:
    """One producer event as deadlines reads it: its timeline entry, its obligation change."""

    event_id: str
    entry: TimelineRow | None
    change: Change | None


def read_producer_event(subject: str, data: bytes, *, now: datetime) -> ProducerEvent | None:
    """Decode a producer's event; None when it is neither a case's nor an obligation's."""
    payload: dict[str, Any] = json.loads(data)
    entry = case_entry(subject, payload, now=now)
    kind = _BY_TAIL.get(subject.split(".", 2)[-1])
    change = kind.model.model_validate(payload) if kind is not None else None
    if change is not None:
        return ProducerEvent(event_id=str(change.event_id), entry=entry, change=change)
    if entry is not None:
        return ProducerEvent(event_id=entry["event_id"], entry=entry, change=None)
    return None


def apply_producer_event(session: Session, event: ProducerEvent, *, deps: DeadlinesDeps) -> None:
    """Apply both parts of a producer's event in the caller's transaction, each claimed once."""
    now = deps.clock.now()
    if event.entry is not None and claim(
        session, consumer=TIMELINE_INBOX, event_id=event.event_id, now=now
    ):
        apply_case_entry(session, event.entry)
    if event.change is None:
        return
    kind = next(kind for kind in _KINDS if isinstance(event.change, kind.model))
    if claim(session, consumer=kind.inbox, event_id=event.event_id, now=now):
        kind.apply(session, event.change, deps=deps)
