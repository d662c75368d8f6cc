"""What casework learns from routing: obligations, cases reaching a body, the directory."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from services.casework import domain, repository
from services.casework.handlers.common import CaseworkDeps, envelope
from services.casework.tables import (
    CaseworkCase,
    CaseworkObligation,
    DirectoryAgency,
    PendingSettlement,
)
from shared.contracts.casework import CaseArrived
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.routing import ReferralIssued
from shared.db import unit_of_work
from shared.inbox import claim
from shared.obligationsview import ObligationsView
from shared.outbox import stage

# Casework keeps every obligation routing opens; a fulfilment before its opening is kept until
# the opening comes (shared.settlements).
OBLIGATIONS = ObligationsView(
    # Stored names (durables, inbox rows): never to be renamed.
    service="casework",
    obligations=CaseworkObligation,
    directory=DirectoryAgency,
    directory_inbox="casework-{name}",
    pending=PendingSettlement,
)
seed_directory = OBLIGATIONS.seed_directory
on_obligation_opened = OBLIGATIONS.opened
on_obligation_fulfilled = OBLIGATIONS.fulfilled
on_obligation_cancelled = OBLIGATIONS.cancelled
on_directory_entry = OBLIGATIONS.directory_entry


def _claimed(session: Session, consumer: str, event_id: uuid.UUID, deps: CaseworkDeps) -> bool:
    return claim(session, consumer=consumer, event_id=str(event_id), now=deps.clock.now())


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


DueTimeEvent = ObligationScheduled | ObligationRescheduled | ObligationBreached


def on_due_time(event: DueTimeEvent, *, deps: CaseworkDeps) -> None:
    """Keep an obligation's due time (and its breach) as deadlines counted it, for work lists."""
    with unit_of_work(deps.engine) as session:
        if not _claimed(session, due_time_inbox(event), event.event_id, deps):
            return
        apply_due_time(session, event, deps=deps)
        session.commit()


def due_time_inbox(event: DueTimeEvent | type[DueTimeEvent]) -> str:
    """The inbox consumer of a due-time event: `casework-<event name>` (a stored name)."""
    return f"casework-{event.NAME}"


def apply_due_time(session: Session, event: DueTimeEvent, *, deps: CaseworkDeps) -> None:
    """Keep a claimed due-time event's due time on the caller's session (no commit)."""
    repository.keep_due_time(
        session,
        obligation_id=str(event.obligation_id),
        due_at=event.due_at,
        breached_at=event.breached_at if isinstance(event, ObligationBreached) else None,
    )
