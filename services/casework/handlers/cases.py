"""The case at the child-rights body: its manager (R8), plan lines for agencies, its closing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from services.casework import domain, repository
from services.casework.handlers.actions import Actor
from services.casework.handlers.common import (
    CaseworkDeps,
    UnknownCase,
    envelope,
    stage_cancelled,
    stage_fulfilled,
    stage_opened,
)
from services.casework.tables import (
    CaseworkCase,
    CaseworkObligation,
    ManagerAssignment,
    PlanLineRow,
)
from shared.contracts.casework import CaseClosed, CaseManagerAssigned, PlanLineAssigned
from shared.db import unit_of_work
from shared.outbox import stage


def _held_case(session: Session, case_id: str, actor: Actor) -> CaseworkCase:
    case = repository.get_case(session, case_id=case_id, lock=True)
    if case is None:
        raise UnknownCase(case_id)
    if case.body_agency_id != actor.agency_id:
        raise domain.NotActor("only the body that holds the case manages it")
    return case


def assign_manager(
    case_id: str, person_id: str, actor: Actor, *, deps: CaseworkDeps
) -> ManagerAssignment:
    """Assign the case manager (a person id); the first assignment meets R8 (p.12.2)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        case = _held_case(session, case_id, actor)
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


def meet_row(case_id: str, code: str, actor: Actor, *, deps: CaseworkDeps) -> bool:
    """Meet the body's own open row on a case (R19: assessment approved, R20: plan approved)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        case = _held_case(session, case_id, actor)
        row = repository.open_obligation_of(
            session, case_id=case_id, code=code, agency_id=case.body_agency_id
        )
        if row is None:
            return False
        fields = envelope(
            now, case_id=case_id, correlation_id=case.correlation_id, agency_id=actor.agency_id
        )
        stage_fulfilled(
            session, row, met_at=now, by_agency_id=case.body_agency_id, fields=fields, now=now
        )
        session.commit()
        return True


@dataclass(frozen=True)
class LineForAgency:
    """A plan line given to an organisation of the directory."""

    plan_id: str
    line_id: str
    kind: str
    agency_id: str
    assigned_on: date
    due_on: date


def assign_plan_lines(
    case_id: str, lines: list[LineForAgency], actor: Actor, *, deps: CaseworkDeps
) -> list[PlanLineRow]:
    """Open an obligation on each other agency's plan line (R20, Appendix 2) and hand it over.

    A line of the body itself is its own work under R20; a line already given keeps its
    obligation (a replayed or revised plan opens nothing twice).
    """
    now = deps.clock.now()
    given: list[PlanLineRow] = []
    with unit_of_work(deps.engine) as session:
        case = _held_case(session, case_id, actor)
        if case.status == domain.CaseStatus.CLOSED.value:
            raise domain.IllegalTransition("the case is closed: no plan line is given")
        fields = envelope(
            now, case_id=case_id, correlation_id=case.correlation_id, agency_id=actor.agency_id
        )
        for index, line in enumerate(lines):
            agency = repository.get_agency(session, agency_id=line.agency_id)
            if agency is None or not agency.active:
                raise domain.InvalidInput(
                    f"lines.{index}.responsible_agency_id",
                    "not an active organisation of the directory",
                )
            if line.agency_id == case.body_agency_id:
                continue
            existing = repository.get_plan_line(session, plan_id=line.plan_id, line_id=line.line_id)
            if existing is not None:
                given.append(existing)
                continue
            obligation_id = domain.plan_line_obligation_id(case_id, line.line_id, line.agency_id)
            row = CaseworkObligation(
                obligation_id=obligation_id,
                case_id=case_id,
                correlation_id=case.correlation_id,
                producer="casework",
                code=domain.PLAN_LINE_CODE,
                legal_basis=domain.PLAN_LINE_BASIS,
                actor_agency_type=agency.agency_type,
                actor_agency_id=agency.agency_id,
                region=case.region,
                term=domain.plan_line_term(now, line.due_on),
                started_at=now,
                plan_line_id=line.line_id,
            )
            stage_opened(session, row, fields=fields, now=now)
            plan_line = PlanLineRow(
                plan_id=line.plan_id,
                line_id=line.line_id,
                case_id=case_id,
                kind=line.kind,
                agency_id=agency.agency_id,
                agency_type=agency.agency_type,
                assigned_on=line.assigned_on,
                due_on=line.due_on,
                obligation_id=obligation_id,
            )
            session.add(plan_line)
            stage(
                session,
                PlanLineAssigned(
                    **fields,
                    plan_id=uuid.UUID(line.plan_id),
                    line_id=uuid.UUID(line.line_id),
                    obligation_id=uuid.UUID(obligation_id),
                    code=domain.PLAN_LINE_CODE,
                    legal_basis=domain.PLAN_LINE_BASIS,
                    kind=line.kind,
                    from_agency_id=case.body_agency_id,
                    to_agency_id=agency.agency_id,
                    to_agency_type=agency.agency_type,
                    region=case.region,
                    due_on=line.due_on,
                ),
                now=now,
            )
            given.append(plan_line)
        session.commit()
        return given


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
        case = _held_case(session, case_id, actor)
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
