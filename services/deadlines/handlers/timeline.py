"""The case timeline: other services' events about a case, as the accountability view shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlmodel import Session

from services.deadlines import repository
from services.deadlines.handlers.common import DeadlinesDeps, TimelineRow, timeline_row
from shared.db import unit_of_work
from shared.inbox import claim


class _CaseEvent(BaseModel):
    """The envelope of any event on the bus, as far as the timeline needs it."""

    model_config = ConfigDict(extra="ignore")

    event_id: uuid.UUID
    occurred_at: AwareDatetime
    case_id: uuid.UUID | None = None


def _first(payload: dict[str, Any], *keys: str, length: int = 80) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value[:length]
    return None


def _acted_at(payload: dict[str, Any]) -> datetime | None:
    # When the act was done, where the event says so (met_at), with its offset.
    text = payload.get("met_at")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


TIMELINE_INBOX = "deadlines-timeline"


def on_case_event(subject: str, payload: dict[str, Any], *, deps: DeadlinesDeps) -> bool:
    """Put another service's event on its case's timeline (ids and codes only); False if none."""
    now = deps.clock.now()
    entry = case_entry(subject, payload, now=now)
    if entry is None:
        return False
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=TIMELINE_INBOX, event_id=entry["event_id"], now=now):
            return False
        apply_case_entry(session, entry)
        session.commit()
    return True


def apply_case_entry(session: Session, entry: TimelineRow) -> None:
    """Add a case event's timeline entry in the caller's transaction (its inbox entry claimed)."""
    repository.add_timeline(session, [entry])


def case_entry(subject: str, payload: dict[str, Any], *, now: datetime) -> TimelineRow | None:
    """The timeline entry of another service's event (ids and codes only); None if not a case's."""
    case_event = _CaseEvent.model_validate(payload)
    if case_event.case_id is None:
        # Not about a case (a directory change, a dead-letter alert): nothing to show.
        return None
    parts = subject.split(".")
    name = ".".join(parts[1:3]) if len(parts) >= 3 else subject
    return timeline_row(
        case_id=str(case_event.case_id),
        event_id=str(case_event.event_id),
        event=name[:120],
        occurred_at=case_event.occurred_at,
        recorded_at=now,
        # Who acted: the envelope's producing agency, else the event's own acting-agency field.
        agency_id=_first(
            payload,
            "agency_id",
            "met_by_agency_id",
            "actor_agency_id",
            "from_agency_id",
            "reporter_agency_id",
        ),
        agency_type=_first(
            payload, "agency_type", "actor_agency_type", "from_agency_type", "reporter_agency_type"
        ),
        target_agency_id=_first(payload, "to_agency_id", "target_agency_id"),
        target_agency_type=_first(
            payload, "to_agency_type", "target_agency_type", "supervisor_agency_type"
        ),
        obligation_id=_first(payload, "obligation_id", length=36),
        code=_first(payload, "code", length=10),
        acted_at=_acted_at(payload),
    )
