"""Casework's queries: handlers and views ask here, never build SQL themselves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from services.casework.tables import (
    AssessmentRow,
    CaseworkAction,
    CaseworkCase,
    CaseworkObligation,
    DirectoryAgency,
    DueTime,
    ManagerAssignment,
    PlanLineRow,
    PlanRow,
)
from shared.db import bind_processor, driver_parameters


def get_obligation(
    session: Session, *, obligation_id: str, lock: bool = False
) -> CaseworkObligation | None:
    """Return an obligation casework knows, locked for update when asked (PostgreSQL)."""
    query = select(CaseworkObligation).where(CaseworkObligation.obligation_id == obligation_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def obligations_of_case(session: Session, *, case_id: str) -> Sequence[CaseworkObligation]:
    """Return every obligation of a case casework knows, oldest first."""
    return session.exec(
        select(CaseworkObligation)
        .where(CaseworkObligation.case_id == case_id)
        .order_by(col(CaseworkObligation.started_at), col(CaseworkObligation.code))
    ).all()


def open_obligations_of_case(session: Session, *, case_id: str) -> Sequence[CaseworkObligation]:
    """Return a case's obligations still open."""
    return [each for each in obligations_of_case(session, case_id=case_id) if each.status == "open"]


def open_obligation_of(
    session: Session, *, case_id: str, code: str, agency_id: str
) -> CaseworkObligation | None:
    """Return the open obligation of a row an agency owes on a case, if any."""
    return session.exec(
        select(CaseworkObligation).where(
            CaseworkObligation.case_id == case_id,
            CaseworkObligation.code == code,
            CaseworkObligation.actor_agency_id == agency_id,
            CaseworkObligation.status == "open",
            col(CaseworkObligation.plan_line_id).is_(None),
        )
    ).first()


def obligations_of_agency(
    session: Session, *, agency_id: str, status: str | None = None
) -> Sequence[CaseworkObligation]:
    """Return the obligations an agency owes, newest first."""
    query = select(CaseworkObligation).where(CaseworkObligation.actor_agency_id == agency_id)
    if status is not None:
        query = query.where(CaseworkObligation.status == status)
    return session.exec(query.order_by(col(CaseworkObligation.started_at).desc())).all()


def get_action(session: Session, *, action_id: str, lock: bool = False) -> CaseworkAction | None:
    """Return a recorded action."""
    query = select(CaseworkAction).where(CaseworkAction.action_id == action_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def actions_of_obligation(session: Session, *, obligation_id: str) -> Sequence[CaseworkAction]:
    """Return the actions recorded on an obligation, in the order they were recorded."""
    return session.exec(
        select(CaseworkAction)
        .where(CaseworkAction.obligation_id == obligation_id)
        .order_by(col(CaseworkAction.recorded_at))
    ).all()


def actions_of_case(session: Session, *, case_id: str) -> Sequence[CaseworkAction]:
    """Return every action recorded on a case."""
    return session.exec(
        select(CaseworkAction)
        .where(CaseworkAction.case_id == case_id)
        .order_by(col(CaseworkAction.recorded_at))
    ).all()


def get_case(session: Session, *, case_id: str, lock: bool = False) -> CaseworkCase | None:
    """Return a case at a child-rights body."""
    query = select(CaseworkCase).where(CaseworkCase.case_id == case_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def caseload(session: Session, *, agency_id: str, status: str | None) -> Sequence[CaseworkCase]:
    """Return the cases a body holds, newest first."""
    query = select(CaseworkCase).where(CaseworkCase.body_agency_id == agency_id)
    if status is not None:
        query = query.where(CaseworkCase.status == status)
    return session.exec(query.order_by(col(CaseworkCase.arrived_at).desc())).all()


def assignments(session: Session, *, case_id: str) -> Sequence[ManagerAssignment]:
    """Return a case's manager assignments, the first first."""
    return session.exec(
        select(ManagerAssignment)
        .where(ManagerAssignment.case_id == case_id)
        .order_by(col(ManagerAssignment.assigned_at), col(ManagerAssignment.assignment_id))
    ).all()


def current_assignment(session: Session, *, case_id: str) -> ManagerAssignment | None:
    """Return the case manager's assignment in force."""
    return session.exec(
        select(ManagerAssignment).where(
            ManagerAssignment.case_id == case_id, col(ManagerAssignment.ended_at).is_(None)
        )
    ).first()


def get_agency(session: Session, *, agency_id: str) -> DirectoryAgency | None:
    """Return an agency of the directory."""
    return session.get(DirectoryAgency, agency_id)


def plan_lines_of_case(session: Session, *, case_id: str) -> Sequence[PlanLineRow]:
    """Return the plan lines of a case given to agencies."""
    return session.exec(select(PlanLineRow).where(PlanLineRow.case_id == case_id)).all()


def get_plan_line(session: Session, *, plan_id: str, line_id: str) -> PlanLineRow | None:
    """Return one plan line given to an agency."""
    return session.exec(
        select(PlanLineRow).where(PlanLineRow.plan_id == plan_id, PlanLineRow.line_id == line_id)
    ).first()


def case_standing(session: Session, *, case_id: str, agency_id: str) -> tuple[bool, bool]:
    """Tell whether casework knows the case, and whether the agency holds it or owes on it."""
    case = get_case(session, case_id=case_id)
    obligations = obligations_of_case(session, case_id=case_id)
    known = case is not None or bool(obligations)
    related = (case is not None and case.body_agency_id == agency_id) or any(
        each.actor_agency_id == agency_id for each in obligations
    )
    return known, related


def plans_of_case(session: Session, *, case_id: str) -> Sequence[PlanRow]:
    """Return the plans of a case (one rehabilitation plan, with its versions inside)."""
    return session.exec(select(PlanRow).where(PlanRow.case_id == case_id)).all()


def plan_lines_of_plan(session: Session, *, plan_id: str) -> Sequence[PlanLineRow]:
    """Return the lines of a plan given to agencies."""
    return session.exec(select(PlanLineRow).where(PlanLineRow.plan_id == plan_id)).all()


def plan_line_of_obligation(session: Session, *, obligation_id: str) -> PlanLineRow | None:
    """Return the plan line an obligation carries."""
    return session.exec(
        select(PlanLineRow).where(PlanLineRow.obligation_id == obligation_id)
    ).first()


def assessment_of_case(session: Session, *, case_id: str) -> AssessmentRow | None:
    """Return the stored assessment of a case."""
    return session.exec(select(AssessmentRow).where(AssessmentRow.case_id == case_id)).first()


def agency_names(session: Session, agency_ids: Iterable[str], *, lang: str) -> dict[str, str]:
    """Return the names of agencies of the directory in Kazakh or Russian."""
    found: dict[str, str] = {}
    for agency_id in set(agency_ids):
        row = session.get(DirectoryAgency, agency_id)
        if row is not None:
            found[agency_id] = (row.name_kk if lang == "kk" else row.name_ru) or agency_id
    return found


def due_times(session: Session, obligation_ids: Iterable[str]) -> dict[str, DueTime]:
    """Return deadlines' due times of the obligations, by id (those deadlines counted)."""
    ids = list(set(obligation_ids))
    if not ids:
        return {}
    rows = session.exec(select(DueTime).where(col(DueTime.obligation_id).in_(ids))).all()
    return {row.obligation_id: row for row in rows}


# One statement on the key, as the inbox claim: deadlines schedules 27 obligations a school
# report, and a look-up, an ORM insert and a flush for each cost several times this. A breach
# keeps its time whatever due-time event comes after it (as the look-up-and-update did).
_DUE_TIME_SQL = {
    "sqlite": (
        "INSERT INTO casework_due_times (obligation_id, due_at, breached_at) VALUES (?, ?, ?) "
        "ON CONFLICT (obligation_id) DO UPDATE SET due_at = excluded.due_at, "
        "breached_at = coalesce(excluded.breached_at, casework_due_times.breached_at)"
    ),
    "postgresql": (
        "INSERT INTO casework_due_times (obligation_id, due_at, breached_at) "
        "VALUES (%(obligation_id)s, %(due_at)s, %(breached_at)s) "
        "ON CONFLICT (obligation_id) DO UPDATE SET due_at = excluded.due_at, "
        "breached_at = coalesce(excluded.breached_at, casework_due_times.breached_at)"
    ),
}


def keep_due_time(
    session: Session, *, obligation_id: str, due_at: datetime | None, breached_at: datetime | None
) -> None:
    """Record an obligation's due time (and its breach, if given) in the caller's transaction."""
    connection = session.connection()
    dialect = connection.dialect
    columns = DueTime.__table__.c  # type: ignore[attr-defined]
    parameters = driver_parameters(
        dialect.name,
        obligation_id=obligation_id,
        due_at=bind_processor(columns.due_at, dialect)(due_at),
        breached_at=bind_processor(columns.breached_at, dialect)(breached_at),
    )
    connection.exec_driver_sql(_DUE_TIME_SQL[dialect.name], parameters)
