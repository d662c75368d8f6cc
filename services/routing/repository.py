"""Routing's queries: the only place that builds them."""

from __future__ import annotations

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from services.routing.domain import Agency
from services.routing.tables import AgencyRow, Referral


def directory_for(session: Session, *, region: str) -> list[Agency]:
    """Return the active agencies of a region and the national ones."""
    rows = session.exec(
        select(AgencyRow).where(
            col(AgencyRow.active).is_(True),
            or_(col(AgencyRow.region) == region, col(AgencyRow.region).is_(None)),
        )
    ).all()
    return [Agency(r.agency_id, r.agency_type, r.region, r.active) for r in rows]


def count_agencies(session: Session) -> int:
    """Count the agencies of the directory."""
    return int(session.exec(select(func.count()).select_from(AgencyRow)).one())


def referrals_of_case(session: Session, *, case_id: str) -> list[Referral]:
    """Return a case's referrals, oldest first."""
    return list(
        session.exec(
            select(Referral)
            .where(Referral.case_id == case_id)
            .order_by(col(Referral.issued_at), col(Referral.code), col(Referral.to_agency_type))
        ).all()
    )


def open_referrals_of_agency(session: Session, *, agency_id: str) -> list[Referral]:
    """Return the referrals an agency has not answered yet."""
    return list(
        session.exec(
            select(Referral)
            .where(Referral.to_agency_id == agency_id, Referral.status == "issued")
            .order_by(col(Referral.issued_at))
        ).all()
    )
