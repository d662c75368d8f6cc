"""What the centre learns from routing: the directory, and the obligations routing opened on a
family support centre (F7, F8 on a report), so the centre meets them rather than its own."""

from __future__ import annotations

import json
from pathlib import Path

from services.familycentre import domain, repository
from services.familycentre.handlers.common import CentreDeps
from services.familycentre.tables import CentreObligation, DirectoryAgency
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import AgencyChanged, AgencyRegistered
from shared.db import unit_of_work
from shared.inbox import claim


def seed_directory(*, deps: CentreDeps, path: Path) -> int:
    """Load the shipped directory into an empty replica; return how many agencies were added."""
    with unit_of_work(deps.engine) as session:
        if repository.count_agencies(session):
            return 0
        agencies = json.loads(path.read_text(encoding="utf-8"))["agencies"]
        for entry in agencies:
            session.add(
                DirectoryAgency(
                    agency_id=entry["agency_id"],
                    agency_type=entry["agency_type"],
                    region=entry.get("region"),
                    active=entry.get("active", True),
                    name_kk=entry.get("name_kk", ""),
                    name_ru=entry.get("name_ru", ""),
                )
            )
        session.commit()
        return len(agencies)


def on_directory_entry(event: AgencyRegistered | AgencyChanged, *, deps: CentreDeps) -> None:
    """Keep the directory replica as routing's directory says."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="familycentre-directory", event_id=str(event.event_id), now=now
        ):
            return
        agency_id = event.directory_agency_id
        row = repository.get_agency(session, agency_id=agency_id) or DirectoryAgency(
            agency_id=agency_id, agency_type=event.agency_type
        )
        row.agency_type = event.agency_type
        row.region = event.region
        row.active = event.active
        row.name_kk = event.name_kk[:300]
        row.name_ru = event.name_ru[:300]
        session.add(row)
        session.commit()


def on_obligation_opened(event: ObligationOpened, *, deps: CentreDeps) -> None:
    """Know an obligation routing opened on a family support centre."""
    if event.actor_agency_type != domain.CENTRE or event.case_id is None:
        return
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session,
            consumer="familycentre-obligation_opened",
            event_id=str(event.event_id),
            now=now,
        ):
            return
        if repository.get_obligation(session, obligation_id=str(event.obligation_id)) is None:
            session.add(
                CentreObligation(
                    obligation_id=str(event.obligation_id),
                    case_id=str(event.case_id),
                    correlation_id=str(event.correlation_id),
                    producer=event.producer or "routing",
                    code=event.code,
                    legal_basis=event.legal_basis,
                    actor_agency_type=event.actor_agency_type,
                    actor_agency_id=event.actor_agency_id,
                    target_agency_type=event.target_agency_type,
                    region=event.region,
                    term=event.term,
                    started_at=event.started_at,
                )
            )
        session.commit()


def on_obligation_fulfilled(event: ObligationFulfilled, *, deps: CentreDeps) -> None:
    """Record that routing met an obligation the centre knows (a referral made through it)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session,
            consumer="familycentre-obligation_fulfilled",
            event_id=str(event.event_id),
            now=now,
        ):
            return
        row = repository.get_obligation(session, obligation_id=str(event.obligation_id))
        if row is not None and row.status == "open":
            row.status = "met"
            row.met_at = event.met_at
            row.met_by_agency_id = event.met_by_agency_id
            session.add(row)
        session.commit()


def on_obligation_cancelled(event: ObligationCancelled, *, deps: CentreDeps) -> None:
    """Record that routing withdrew an obligation the centre knows (a referral re-routed)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session,
            consumer="familycentre-obligation_cancelled",
            event_id=str(event.event_id),
            now=now,
        ):
            return
        row = repository.get_obligation(session, obligation_id=str(event.obligation_id))
        if row is not None and row.status == "open":
            row.status = "cancelled"
            row.cancel_reason = event.reason[:200]
            session.add(row)
        session.commit()
