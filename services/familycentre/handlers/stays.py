"""The centre's rooms and what a stay may still change (p.6.4, p.23.5, p.25-26), and the support
measures of p.23 given to a person with signs of domestic violence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlmodel import Session

from services.familycentre import domain, records, repository
from services.familycentre.handlers.appeals import held_appeal
from services.familycentre.handlers.common import (
    Actor,
    CentreDeps,
    UnknownStay,
    require_centre,
)
from services.familycentre.tables import Room, Stay, SupportMeasure
from shared.db import unit_of_work

NOTE_FIELD = "support_measure.note"


def check_room(session: Session, *, agency_id: str, room: str, coming: int) -> None:
    """Refuse an admission to an undeclared room or one without the places for everyone."""
    held = repository.held_room(session, agency_id=agency_id, room=room)
    domain.check_room(
        capacity=held.capacity if held is not None else None,
        occupied=repository.occupied(session, agency_id=agency_id, room=room),
        coming=coming,
    )


def declare_room(room: str, *, capacity: int, actor: Actor, deps: CentreDeps) -> Room:
    """Declare a room of the centre's stays and its places (the head)."""
    require_centre(actor)
    if not actor.is_head:
        raise domain.NotActor("the centre's head declares its rooms")
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        held = repository.held_room(session, agency_id=actor.agency_id, room=room)
        domain.check_capacity(
            capacity=capacity,
            occupied=repository.occupied(session, agency_id=actor.agency_id, room=room),
        )
        if held is None:
            held = Room(
                centre_agency_id=actor.agency_id, room=room, capacity=capacity, updated_at=now
            )
        held.capacity = capacity
        held.updated_at = now
        session.add(held)
        session.commit()
        return held


def rooms_of(engine: Engine, *, agency_id: str) -> list[dict[str, object]]:
    """Return the centre's rooms: places, people staying now, places free."""
    with Session(engine) as session:
        answer: list[dict[str, object]] = []
        for room in repository.rooms_of_centre(session, agency_id=agency_id):
            taken = repository.occupied(session, agency_id=agency_id, room=room.room)
            answer.append(
                {
                    "room": room.room,
                    "capacity": room.capacity,
                    "occupied": taken,
                    "free": max(room.capacity - taken, 0),
                }
            )
        return answer


def extend_stay(stay_id: str, *, until: date, actor: Actor, deps: CentreDeps) -> Stay:
    """Extend a stay within its month (p.6.4, p.23.5 allow no stay past one month)."""
    require_centre(actor)
    with unit_of_work(deps.engine) as session:
        stay = repository.get_stay(session, stay_id=stay_id)
        if stay is None or stay.centre_agency_id != actor.agency_id:
            raise UnknownStay(stay_id)
        domain.check_extension(
            ended=stay.left_at is not None,
            admitted_at=stay.admitted_at,
            until=stay.until,
            new_until=until,
        )
        stay.until = until
        session.add(stay)
        session.commit()
        return stay


@dataclass(frozen=True)
class MeasureDraft:
    """A support measure of p.23: which, on what day, what was given (encrypted)."""

    kind: domain.SupportKind
    provided_on: date
    note: str | None = None


def record_measure(
    appeal_id: str, draft: MeasureDraft, *, actor: Actor, deps: CentreDeps
) -> SupportMeasure:
    """Record a support measure of p.23 given on an appeal with signs of domestic violence."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        domain.check_measure(
            domestic_violence=appeal.domestic_violence,
            provided_on=draft.provided_on,
            received_on=domain.local_day(appeal.received_at),
            today=domain.local_day(now),
        )
        measure = SupportMeasure(
            measure_id=str(uuid.uuid4()),
            appeal_id=appeal.appeal_id,
            case_id=appeal.case_id,
            centre_agency_id=appeal.centre_agency_id,
            kind=draft.kind.value,
            provided_on=draft.provided_on,
            recorded_at=now,
            recorded_by=actor.person_id,
            note=records.seal(deps.cipher, draft.note, field=NOTE_FIELD),
        )
        session.add(measure)
        session.commit()
        return measure
