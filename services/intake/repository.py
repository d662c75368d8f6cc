"""Intake's queries: the only place that builds them."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.intake.tables import Case, Report, Subject
from shared import auth


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


def relations(session: Session, *, case_id: str, agency_id: str) -> frozenset[str]:
    """Return how an agency relates to a case."""
    return auth.relations_of(session, case_id=case_id, agency_id=agency_id)


def agencies_of(session: Session, *, case_id: str) -> dict[str, frozenset[str]]:
    """Return every agency related to a case."""
    return auth.agencies_of(session, case_id=case_id)
