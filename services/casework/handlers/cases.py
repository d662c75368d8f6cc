"""The case at the child-rights body: its manager (R8), plan lines for agencies, its closing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.casework import domain, repository
from services.casework.handlers.common import (
    Actor,
    CaseworkDeps,
    UnknownCase,
    envelope,
    stage_cancelled,
    stage_fulfilled,
)
from services.casework.tables import CaseworkCase, ManagerAssignment
from shared.contracts.casework import CaseClosed, CaseManagerAssigned
from shared.db import unit_of_work
from shared.outbox import stage


def held_case(session: Session, case_id: str, actor: Actor) -> CaseworkCase:
    case = repository.get_case(session, case_id=case_id, lock=True)
    if case is None:
        raise UnknownCase(case_id)
    if case.body_agency_id != actor.agency_id:
        raise domain.NotActor("only the body that holds the case manages it")
    return case


def open_case(session: Session, case_id: str, actor: Actor) -> CaseworkCase:
    """Return the case the actor's body holds; a closed one keeps its records as they are."""
    case = held_case(session, case_id, actor)
    if case.status == domain.CaseStatus.CLOSED.value:
        raise domain.IllegalTransition("the case is closed: its records are kept as they are")
    return case


def fields_of(case: CaseworkCase, actor: Actor, now: datetime) -> dict[str, Any]:
    """Return the envelope of an event the actor's work on the case causes."""
    return envelope(
        now, case_id=case.case_id, correlation_id=case.correlation_id, agency_id=actor.agency_id
    )


def assign_manager(
    case_id: str, person_id: str, actor: Actor, *, deps: CaseworkDeps
) -> ManagerAssignment:
    """Assign the case manager (a person id); the first assignment meets R8 (p.12.2)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        case = held_case(session, case_id, actor)
        current = repository.current_assignment(session, case_id=case_id)
        domain.check_assignment(
            domain.CaseStatus(case.status),
            current_person=current.person_id if current else None,
            person_id=person_id,
        )
        if current is not None:
            # Reassignment keeps history: the old assignment ends, it is never overwritten.
            current.ended_at = now
            session.add(current)
        assignment = ManagerAssignment(
            assignment_id=str(uuid.uuid4()),
            case_id=case_id,
            person_id=person_id,
            assigned_by=actor.person_id,
            assigned_at=now,
        )
        session.add(assignment)
        fields = envelope(
            now, case_id=case_id, correlation_id=case.correlation_id, agency_id=actor.agency_id
        )
        stage(
            session,
            CaseManagerAssigned(
                **fields,
                assignment_id=uuid.UUID(assignment.assignment_id),
                body_agency_id=case.body_agency_id,
                assigned_at=now,
                replaces_assignment_id=uuid.UUID(current.assignment_id) if current else None,
            ),
            now=now,
        )
        r8 = repository.open_obligation_of(
            session, case_id=case_id, code="R8", agency_id=case.body_agency_id
        )
        if r8 is not None:
            # "assign a case manager" (Rules 38874 p.12.2) is done by the assignment itself.
            stage_fulfilled(
                session, r8, met_at=now, by_agency_id=case.body_agency_id, fields=fields, now=now
            )
        session.commit()
        return assignment


def meet_row(
    session: Session, case: CaseworkCase, code: str, *, fields: dict[str, Any], now: datetime
) -> bool:
    """Meet the body's own open row on a case (R19: assessment approved, R20: plan approved)."""
    row = repository.open_obligation_of(
        session, case_id=case.case_id, code=code, agency_id=case.body_agency_id
    )
    if row is None:
        return False
    stage_fulfilled(
        session, row, met_at=now, by_agency_id=case.body_agency_id, fields=fields, now=now
    )
    return True


def close_case(
    case_id: str,
    grounds: domain.CloseGrounds,
    note: str | None,
    actor: Actor,
    *,
    deps: CaseworkDeps,
) -> tuple[CaseworkCase, int]:
    """The head closes a case with its grounds; the case's open obligations are cancelled."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        case = held_case(session, case_id, actor)
        if not actor.is_head:
            raise domain.NotActor("only the head closes a case (Guide p.8.10)")
        domain.check_close(domain.CaseStatus(case.status))
        basis = domain.CLOSE_BASIS[grounds]
        case.status = domain.CaseStatus.CLOSED.value
        case.closed_at = now
        case.closed_by = actor.person_id
        case.close_grounds = grounds.value
        case.close_note = deps.cipher.encrypt(note, field="case.close_note")
        session.add(case)
        fields = envelope(
            now, case_id=case_id, correlation_id=case.correlation_id, agency_id=actor.agency_id
        )
        # Imported here: the plan's handlers build on this module (held_case, meet_row).
        from services.casework.handlers.plans import end_plans

        end_plans(session, case, by=actor.person_id, deps=deps, now=now)
        reason = f"case closed: {grounds.value} ({basis})"
        open_rows = repository.open_obligations_of_case(session, case_id=case_id)
        for row in open_rows:
            stage_cancelled(session, row, reason=reason, fields=fields, now=now)
        stage(
            session,
            CaseClosed(
                **fields,
                body_agency_id=case.body_agency_id,
                grounds=grounds.value,
                legal_basis=basis,
                closed_at=now,
                cancelled_obligations=len(open_rows),
            ),
            now=now,
        )
        session.commit()
        return case, len(open_rows)
