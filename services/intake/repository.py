"""Intake's queries: the only place that builds them."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.intake.tables import Case, Report, Subject


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
