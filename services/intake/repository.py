"""Intake's queries: the only place that builds them."""

from __future__ import annotations

from sqlalchemy import text
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


def next_case_number(session: Session, *, region: str, year: int) -> int:
    """Take the next case number of a region and year, in the caller's transaction."""
    # One statement on both databases (SQLite has upserts with RETURNING since 3.35): it starts
    # the counter at 1 or raises it by one, and answers the number taken, with nothing counted
    # and nothing to retry. PostgreSQL holds the counter row's lock until the caller's commit,
    # so a concurrent registration waits and takes the number after; a registration rolled back
    # gives its number back, so the numbers have no gaps (which a sequence would not promise).
    # SQLite lets one writer at a time in, which serialises the same way.
    taken = session.connection().execute(
        text(
            "INSERT INTO intake_case_counters (region, year, last_number) "
            "VALUES (:region, :year, 1) "
            "ON CONFLICT (region, year) "
            "DO UPDATE SET last_number = intake_case_counters.last_number + 1 "
            "RETURNING last_number"
        ),
        {"region": region, "year": year},
    )
    return int(taken.scalar_one())


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
