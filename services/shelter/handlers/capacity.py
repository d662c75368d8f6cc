"""A shelter's capacity: beds its head reports, occupancy counted from its stays (adults and
the children with them, p.27), published for routing; staffing against Appendix 3."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.handlers.common import SERVICE, Actor, ShelterDeps, envelope
from services.shelter.tables import ShelterCapacity
from shared.contracts.shelter import CapacityChanged
from shared.db import unit_of_work
from shared.outbox import stage

S = domain.StayStatus
# A person holds a bed from arrival until the stay ends (also while in hospital: p.37 suspends
# services, the contract runs on).
OCCUPYING = frozenset({S.ARRIVED} | domain.IN_SERVICE)


@dataclass(frozen=True)
class Occupancy:
    """How many beds are taken, by how many children among them."""

    occupied: int
    children: int


def occupancy(session: Session, *, agency_id: str) -> Occupancy:
    """Count the people at a shelter now: adults staying and the children with them."""
    adults = [
        stay
        for stay in repository.stays_of_shelter(session, agency_id=agency_id)
        if not stay.minor and S(stay.status) in OCCUPYING
    ]
    children = sum(len(repository.children_of(session, stay_id=s.stay_id)) for s in adults)
    return Occupancy(len(adults) + children, children)


def stage_capacity(session: Session, *, agency_id: str, region: str, now: datetime) -> None:
    """Stage the shelter's capacity as it stands in this transaction."""
    session.flush()
    found = occupancy(session, agency_id=agency_id)
    row = session.get(ShelterCapacity, agency_id)
    beds = row.beds if row is not None else None
    stage(
        session,
        CapacityChanged(
            **envelope(
                now, case_id=None, correlation_id=_correlation(agency_id), agency_id=agency_id
            ),
            shelter_agency_id=agency_id,
            region=region,
            beds=beds,
            occupied=found.occupied,
            children=found.children,
            free=max(beds - found.occupied, 0) if beds is not None else None,
        ),
        now=now,
    )


def _correlation(agency_id: str) -> str:
    # A shelter's capacity events correlate with each other, not with a case.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qorgau:{SERVICE}:capacity:{agency_id}"))


def set_capacity(beds: int, staff: dict[str, float], actor: Actor, *, deps: ShelterDeps) -> None:
    """The head reports the shelter's beds and staff by position (Appendix 3)."""
    if actor.agency_type != "shelter" or not actor.is_head:
        raise domain.NotActor("a shelter's head reports its beds and staff")
    if actor.region is None:
        raise domain.NotActor("a shelter's token names its region")
    for position in staff:
        if position not in domain.STAFF_MINIMUM and position != "educator":
            raise domain.InvalidInput(f"staff.{position}", "not a position of Appendix 3")
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row = session.get(ShelterCapacity, actor.agency_id) or ShelterCapacity(
            agency_id=actor.agency_id, region=actor.region, beds=beds, updated_at=now
        )
        row.beds = beds
        row.staff = json.dumps(staff, sort_keys=True)
        row.updated_at = now
        session.add(row)
        stage_capacity(session, agency_id=actor.agency_id, region=actor.region, now=now)
        session.commit()


def capacity_report(agency_id: str, *, deps: ShelterDeps) -> dict[str, Any]:
    """Return beds, occupancy and staffing against Appendix 3's minimums (numbers only)."""
    with unit_of_work(deps.engine) as session:
        found = occupancy(session, agency_id=agency_id)
        row = session.get(ShelterCapacity, agency_id)
        beds = row.beds if row is not None else None
        staff = json.loads(row.staff) if row is not None else {}
    needed = domain.staffing_minimum(found.occupied, found.children)
    return {
        "agency_id": agency_id,
        "beds": beds,
        "occupied": found.occupied,
        "children": found.children,
        "free": max(beds - found.occupied, 0) if beds is not None else None,
        "staffing_basis": "Standard 14701, p.22-23, Appendix 3",
        "staff_minimum": needed,
        "staff": staff,
        "shortfalls": domain.shortfalls(needed, staff),
    }
