"""Intake's queries: the only place that builds them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, text
from sqlmodel import Session, col, select

from services.intake.tables import (
    Case,
    CaseAccess,
    CaseLink,
    DuplicateCandidate,
    Report,
    Subject,
)
from shared.db import bind_processor, driver_parameters


def open_case_of(session: Session, *, iin_hash: str | None) -> str | None:
    """Return the open case of the person with this IIN hash, the oldest first."""
    if iin_hash is None:
        return None
    return session.exec(
        select(Case.case_id)
        .join(Subject, col(Subject.case_id) == col(Case.case_id))
        .where(col(Subject.iin_hash) == iin_hash, col(Case.status) == "open")
        .order_by(col(Case.opened_at))
    ).first()


def open_namesakes(
    session: Session, *, identity_hashes: Sequence[str], but: str
) -> list[tuple[str, str | None]]:
    """Return (case id, IIN hash) of other open cases whose subject has one of these hashes."""
    if not identity_hashes:
        return []
    rows = session.exec(
        select(Case.case_id, Subject.iin_hash)
        .join(Subject, col(Subject.case_id) == col(Case.case_id))
        .where(
            col(Subject.identity_hash).in_(list(identity_hashes)),
            col(Case.status) == "open",
            col(Case.case_id) != but,
        )
        .order_by(col(Case.opened_at))
    ).all()
    return [(case_id, iin_hash) for case_id, iin_hash in rows]


def candidates_of(session: Session, *, case_id: str) -> list[DuplicateCandidate]:
    """Return the possible duplicates a case is part of, on either side, oldest first."""
    return list(
        session.exec(
            select(DuplicateCandidate)
            .where(
                or_(
                    col(DuplicateCandidate.case_id) == case_id,
                    col(DuplicateCandidate.earlier_case_id) == case_id,
                )
            )
            .order_by(col(DuplicateCandidate.found_at), col(DuplicateCandidate.candidate_id))
        ).all()
    )


def candidate_for_update(session: Session, *, candidate_id: str) -> DuplicateCandidate | None:
    """Return a possible duplicate, locked until the caller's commit (one decision wins)."""
    return session.exec(
        select(DuplicateCandidate)
        .where(col(DuplicateCandidate.candidate_id) == candidate_id)
        .with_for_update()
    ).first()


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
    # One statement on the primary key, as the inbox claim: routing's 27 openings of a report
    # name the same few agencies again and again, and a look-up, an ORM insert and a flush for
    # each cost three times this.
    connection = session.connection()
    dialect = connection.dialect
    column = CaseAccess.__table__.c.granted_at  # type: ignore[attr-defined]
    parameters = driver_parameters(
        dialect.name,
        case_id=case_id,
        agency_id=agency_id,
        relation=str(relation),
        source=source,
        granted_at=bind_processor(column, dialect)(now),
    )
    return connection.exec_driver_sql(_GRANT_SQL[dialect.name], parameters).first() is not None


_GRANT_SQL = {
    "sqlite": (
        "INSERT INTO case_access (case_id, agency_id, relation, source, granted_at) "
        "VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (case_id, agency_id, relation) DO NOTHING RETURNING case_id"
    ),
    "postgresql": (
        "INSERT INTO case_access (case_id, agency_id, relation, source, granted_at) "
        "VALUES (%(case_id)s, %(agency_id)s, %(relation)s, %(source)s, %(granted_at)s) "
        "ON CONFLICT (case_id, agency_id, relation) DO NOTHING RETURNING case_id"
    ),
}


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


def link_child(
    session: Session,
    *,
    adult_case_id: str,
    child_case_id: str,
    identified: bool,
    report_id: str,
    now: datetime,
) -> bool:
    """Link a child's case to the adult victim's, in the caller's transaction; False if known."""
    if session.get(CaseLink, (adult_case_id, child_case_id)) is not None:
        return False
    session.add(
        CaseLink(
            adult_case_id=adult_case_id,
            child_case_id=child_case_id,
            identified=identified,
            report_id=report_id,
            linked_at=now,
        )
    )
    session.flush()
    return True


def unidentified_children_of(session: Session, *, adult_case_id: str) -> list[str]:
    """Return the open cases of unnamed children who came with an adult, oldest first."""
    rows = session.exec(
        select(CaseLink.child_case_id)
        .join(Case, col(Case.case_id) == col(CaseLink.child_case_id))
        .where(
            CaseLink.adult_case_id == adult_case_id,
            col(CaseLink.identified).is_(False),
            col(Case.status) == "open",
        )
        .order_by(col(Case.opened_at), col(Case.case_number))
    ).all()
    return list(rows)


def links_of(session: Session, *, case_id: str) -> list[CaseLink]:
    """Return the links of a case either way: to its children, or to the adult it came with."""
    return list(
        session.exec(
            select(CaseLink)
            .join(Case, col(Case.case_id) == col(CaseLink.child_case_id))
            .where(
                (col(CaseLink.adult_case_id) == case_id) | (col(CaseLink.child_case_id) == case_id)
            )
            # The children in the order the report listed them: their cases were numbered so.
            .order_by(col(Case.opened_at), col(Case.case_number))
        ).all()
    )
