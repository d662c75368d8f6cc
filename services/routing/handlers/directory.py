"""The agency directory: seeding it, and registering or changing an agency (each an event)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from services.routing import domain, repository
from services.routing.handlers.common import RoutingDeps, UnknownAgency, new_envelope
from services.routing.tables import AgencyRow
from shared.agencies import regions
from shared.contracts.routing import AgencyChanged, AgencyRegistered
from shared.db import unit_of_work
from shared.outbox import stage


def seed_directory(*, deps: RoutingDeps, path: Path) -> int:
    """Load the shipped directory into an empty database; return how many agencies were added."""
    with unit_of_work(deps.engine) as session:
        if repository.count_agencies(session):
            return 0
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data["agencies"]:
            session.add(AgencyRow(**entry))
        session.commit()
        return len(data["agencies"])


def directory_entry(row: AgencyRow) -> dict[str, Any]:
    """Return the directory entry's state, as the directory events carry it."""
    state = row.model_dump()
    return {"directory_agency_id": state.pop("agency_id"), **state}


def _check_entry(session: Session, row: AgencyRow, rules: domain.Rules) -> None:
    agency = domain.Agency(row.agency_id, row.agency_type, row.region, row.active)
    others = repository.agencies_of_type(session, agency_type=row.agency_type)
    domain.check_directory_entry(agency, rules=rules, others=others, regions=regions())


def register_agency(entry: BaseModel, *, deps: RoutingDeps) -> AgencyRow:
    """Add an agency to the directory (the API's validated entry); the change is an event."""
    now = deps.clock.now()
    fields = entry.model_dump()
    with unit_of_work(deps.engine) as session:
        if repository.get_agency(session, agency_id=fields["agency_id"]) is not None:
            raise domain.DirectoryError(f"agency {fields['agency_id']} is already registered")
        row = AgencyRow(**fields)
        _check_entry(session, row, deps.rules)
        session.add(row)
        stage(session, AgencyRegistered(**new_envelope(now), **directory_entry(row)), now=now)
        session.commit()
        return row


def change_agency(agency_id: str, change: BaseModel, *, deps: RoutingDeps) -> AgencyRow:
    """Change an agency of the directory (incl. deactivate it); each change is an event."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row = repository.get_agency(session, agency_id=agency_id)
        if row is None:
            raise UnknownAgency(agency_id)
        changed = []
        for name, value in change.model_dump(exclude_unset=True).items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed.append(name)
        if not changed:
            # Nothing changed, nothing to tell; commit so the row stays readable afterwards.
            session.commit()
            return row
        _check_entry(session, row, deps.rules)
        session.add(row)
        stage(
            session,
            AgencyChanged(**new_envelope(now), **directory_entry(row), changed=tuple(changed)),
            now=now,
        )
        session.commit()
        return row
