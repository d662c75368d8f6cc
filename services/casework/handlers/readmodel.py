"""What casework learns from routing: obligations, cases reaching a body, the directory."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.casework import domain, repository
from services.casework.handlers.common import CaseworkDeps, NotYetKnown, envelope
from services.casework.tables import CaseworkCase, CaseworkObligation, DirectoryAgency, DueTime
from shared.contracts.casework import CaseArrived
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import AgencyChanged, AgencyRegistered, ReferralIssued
from shared.db import is_postgres, unit_of_work
from shared.inbox import claim
from shared.outbox import stage


def seed_directory(*, deps: CaseworkDeps, path: Path) -> int:
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
        try:
            session.commit()
        except IntegrityError:
            # A twin instance starting at the same moment seeded it first: theirs stands.
            return 0
        return len(agencies)


def _claimed(session: Session, consumer: str, event_id: uuid.UUID, deps: CaseworkDeps) -> bool:
    return claim(session, consumer=consumer, event_id=str(event_id), now=deps.clock.now())


def on_obligation_opened(event: ObligationOpened, *, deps: CaseworkDeps) -> None:
    """Know an obligation routing opened: its case, row, clause, actor, start and term."""
    if event.case_id is None:
        raise ValueError(f"obligation {event.obligation_id} names no case")
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, "casework-obligation_opened", event.event_id, deps):
            return
        if repository.get_obligation(session, obligation_id=str(event.obligation_id)) is None:
            session.add(
                CaseworkObligation(
                    obligation_id=str(event.obligation_id),
                    case_id=str(event.case_id),
                    correlation_id=str(event.correlation_id),
                    producer=event.producer or "routing",
                    code=event.code,
                    legal_basis=event.legal_basis,
                    actor_agency_type=event.actor_agency_type,
                    actor_agency_id=event.actor_agency_id,
                    target_agency_type=event.target_agency_type,
                    target_agency_id=event.target_agency_id,
                    region=event.region,
                    term=event.term,
                    started_at=event.started_at,
                )
            )
        session.commit()


def on_obligation_fulfilled(event: ObligationFulfilled, *, deps: CaseworkDeps) -> None:
    """Record that routing met an obligation (a platform transfer, a referral made)."""
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, "casework-obligation_fulfilled", event.event_id, deps):
            return
        row = repository.get_obligation(
            session, obligation_id=str(event.obligation_id), lock=is_postgres(deps.engine)
        )
        if row is None:
            # Opened and fulfilled travel on separate consumers: retried until the opening.
            raise NotYetKnown(f"obligation {event.obligation_id} not opened yet")
        if row.status == domain.ObligationStatus.OPEN.value:
            row.status = domain.ObligationStatus.MET.value
            row.met_at = event.met_at
            row.met_by_agency_id = event.met_by_agency_id
            row.met_by_platform = event.met_by_platform
            session.add(row)
        session.commit()


def on_obligation_cancelled(event: ObligationCancelled, *, deps: CaseworkDeps) -> None:
    """Record that routing withdrew an obligation (a decline took it elsewhere)."""
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, "casework-obligation_cancelled", event.event_id, deps):
            return
        row = repository.get_obligation(
            session, obligation_id=str(event.obligation_id), lock=is_postgres(deps.engine)
        )
        if row is None:
            raise NotYetKnown(f"obligation {event.obligation_id} not opened yet")
        if row.status == domain.ObligationStatus.OPEN.value:
            row.status = domain.ObligationStatus.CANCELLED.value
            row.cancel_reason = event.reason[:200]
            session.add(row)
        session.commit()


def on_referral_issued(event: ReferralIssued, *, deps: CaseworkDeps) -> None:
    """Put a case that reached a child-rights body (or its stand-in) in that body's caseload."""
    if event.case_id is None or not domain.is_body_arrival(
        to_agency_type=event.to_agency_type,
        acting_for=event.acting_for,
        purpose=event.purpose.value,
    ):
        return
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, "casework-referral_issued", event.event_id, deps):
            return
        case = repository.get_case(session, case_id=str(event.case_id), lock=True)
        if case is not None and (
            case.body_agency_id == event.to_agency_id or event.replaces_referral_id is None
        ):
            # One body holds a case; only a re-route after a decline moves it (p.12, p.8).
            session.commit()
            return
        if case is None:
            case = CaseworkCase(
                case_id=str(event.case_id),
                correlation_id=str(event.correlation_id),
                body_agency_id=event.to_agency_id,
                body_agency_type=event.to_agency_type,
                region=event.region,
                arrived_at=event.issued_at,
                referral_id=str(event.referral_id),
            )
        else:
            case.body_agency_id = event.to_agency_id
            case.body_agency_type = event.to_agency_type
            case.arrived_at = event.issued_at
            case.referral_id = str(event.referral_id)
        session.add(case)
        stage(
            session,
            CaseArrived(
                **envelope(now, cause=event, agency_id=event.to_agency_id),
                body_agency_id=event.to_agency_id,
                body_agency_type=event.to_agency_type,
                region=event.region,
                arrived_at=event.issued_at,
                referral_id=event.referral_id,
            ),
            now=now,
        )
        session.commit()


def on_directory_entry(event: AgencyRegistered | AgencyChanged, *, deps: CaseworkDeps) -> None:
    """Keep the directory replica current: plan lines go only to agencies of the directory."""
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, f"casework-{event.NAME}", event.event_id, deps):
            return
        row = repository.get_agency(session, agency_id=event.directory_agency_id)
        if row is None:
            row = DirectoryAgency(agency_id=event.directory_agency_id, agency_type="")
        row.agency_type = event.agency_type
        row.region = event.region
        row.active = event.active
        row.name_kk = event.name_kk
        row.name_ru = event.name_ru
        session.add(row)
        session.commit()


def on_due_time(
    event: ObligationScheduled | ObligationRescheduled | ObligationBreached, *, deps: CaseworkDeps
) -> None:
    """Keep an obligation's due time (and its breach) as deadlines counted it, for work lists."""
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, f"casework-{event.NAME}", event.event_id, deps):
            return
        row = session.get(DueTime, str(event.obligation_id)) or DueTime(
            obligation_id=str(event.obligation_id)
        )
        row.due_at = event.due_at
        if isinstance(event, ObligationBreached):
            row.breached_at = event.breached_at
        session.add(row)
        session.commit()
