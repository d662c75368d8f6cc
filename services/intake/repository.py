"""Intake's queries: the only place that builds them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.intake.tables import Case, CaseAccess, Report, Subject


def open_case_of(
    session: Session, *, iin_hash: str | None, identity_hash: str | None
) -> tuple[str | None, str | None]:
    """Return the open case ids matching the person by IIN hash and by identity hash."""

    def find(column: object, value: str | None) -> str | None:
        if value is None:
            return None
        row = session.exec(
            select(Case.case_id)
            .join(Subject, col(Subject.case_id) == col(Case.case_id))
            .where(column == value, col(Case.status) == "open")
            .order_by(col(Case.opened_at))
        ).first()
        return row

    return find(Subject.iin_hash, iin_hash), find(Subject.identity_hash, identity_hash)


def count_cases(session: Session, *, region: str, year_prefix: str) -> int:
    """Count the cases of a region whose number starts with the year prefix."""
    return int(
        session.exec(
            select(func.count())
            .select_from(Case)
            .where(Case.region == region, col(Case.case_number).startswith(year_prefix))
        ).one()
    )


def get_case(session: Session, *, case_id: str) -> Case | None:
    """Return a case by id."""
    return session.get(Case, case_id)


def reports_of(session: Session, *, case_id: str) -> list[Report]:
    """Return a case's reports, oldest first."""
    return list(
        session.exec(
            select(Report).where(Report.case_id == case_id).order_by(col(Report.received_at))
        ).all()
    )


def get_report(session: Session, *, report_id: str) -> Report | None:
    """Return a report by id."""
    return session.get(Report, report_id)


def subject_of(session: Session, *, case_id: str) -> Subject | None:
    """Return the person a case is about."""
    return session.exec(select(Subject).where(Subject.case_id == case_id)).first()


def grant(
    session: Session,
    *,
    case_id: str,
    agency_id: str,
    relation: str,
    source: str,
    now: datetime,
) -> bool:
    """Record a relation in the caller's transaction; False if it was already known."""
    known = session.get(CaseAccess, (case_id, agency_id, str(relation)))
    if known is not None:
        return False
    session.add(
        CaseAccess(
            case_id=case_id,
            agency_id=agency_id,
            relation=str(relation),
            source=source,
            granted_at=now,
        )
    )
    session.flush()
    return True


def relations(session: Session, *, case_id: str, agency_id: str) -> frozenset[str]:
    """Return how an agency relates to a case."""
    rows = session.exec(
        select(CaseAccess.relation).where(
            CaseAccess.case_id == case_id, CaseAccess.agency_id == agency_id
        )
    ).all()
    return frozenset(rows)


def agencies_of(session: Session, *, case_id: str) -> dict[str, frozenset[str]]:
    """Return every agency related to a case, with its relations."""
    found: dict[str, set[str]] = {}
    rows = session.exec(
        select(CaseAccess).where(CaseAccess.case_id == case_id).order_by(col(CaseAccess.agency_id))
    ).all()
    for row in rows:
        found.setdefault(row.agency_id, set()).add(row.relation)
    return {agency: frozenset(held) for agency, held in found.items()}
