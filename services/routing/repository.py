"""Routing's queries: the only place that builds them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from services.routing.domain import Agency
from services.routing.tables import AgencyRow, Referral, RoutingCase, RoutingObligation

# Referrals whose agency has the case (the others were declined and replaced).
HOLDING = ("issued", "acknowledged")


def directory_for(session: Session, *, region: str | None) -> list[Agency]:
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


def get_agency(session: Session, *, agency_id: str) -> AgencyRow | None:
    """Return one agency of the directory."""
    return session.get(AgencyRow, agency_id)


def agencies(
    session: Session,
    *,
    region: str | None = None,
    agency_type: str | None = None,
    active: bool | None = None,
) -> list[AgencyRow]:
    """Return agencies of the directory, filtered by region, type and whether active."""
    query = select(AgencyRow)
    if region is not None:
        query = query.where(AgencyRow.region == region)
    if agency_type is not None:
        query = query.where(AgencyRow.agency_type == agency_type)
    if active is not None:
        query = query.where(col(AgencyRow.active).is_(active))
    return list(session.exec(query.order_by(col(AgencyRow.agency_id))).all())


def agencies_of_type(session: Session, *, agency_type: str) -> list[Agency]:
    """Return every agency of a type, active or not."""
    rows = session.exec(select(AgencyRow).where(AgencyRow.agency_type == agency_type)).all()
    return [Agency(r.agency_id, r.agency_type, r.region, r.active) for r in rows]


def get_case(session: Session, *, case_id: str) -> RoutingCase | None:
    """Return what routing knows of a case."""
    return session.get(RoutingCase, case_id)


def get_referral(session: Session, *, referral_id: str, lock: bool = False) -> Referral | None:
    """Return one referral, locked for update when asked (two answers must not both win)."""
    query = select(Referral).where(Referral.referral_id == referral_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def referrals_of_case(session: Session, *, case_id: str) -> list[Referral]:
    """Return a case's referrals, oldest first."""
    return list(
        session.exec(
            select(Referral)
            .where(Referral.case_id == case_id)
            .order_by(col(Referral.issued_at), col(Referral.code), col(Referral.to_agency_type))
        ).all()
    )


def referrals_of_chain(session: Session, *, chain_id: str) -> list[Referral]:
    """Return every referral of a chain of re-routes and escalations."""
    return list(session.exec(select(Referral).where(Referral.chain_id == chain_id)).all())


def holding_referrals(session: Session, *, case_id: str) -> list[Referral]:
    """Return the referrals through which agencies have a case now."""
    return list(
        session.exec(
            select(Referral)
            .where(Referral.case_id == case_id, col(Referral.status).in_(HOLDING))
            .order_by(col(Referral.issued_at), col(Referral.referral_id))
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


def unacknowledged_due(session: Session, *, now: datetime, limit: int) -> list[Referral]:
    """Return unanswered referrals past their acknowledgement time, not yet reported."""
    query = (
        select(Referral)
        .where(
            Referral.status == "issued",
            col(Referral.ack_due_at).is_not(None),
            col(Referral.ack_due_at) <= now,
            col(Referral.unacknowledged_at).is_(None),
        )
        .order_by(col(Referral.ack_due_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two instances of routing never report the same referral twice.
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query).all())


def duty_keys(session: Session, *, case_id: str) -> set[str]:
    """Return the keys of every duty a case has had (open, met or cancelled)."""
    rows = session.exec(
        select(RoutingObligation.duty_key).where(RoutingObligation.case_id == case_id)
    ).all()
    return set(rows)


def get_obligation(session: Session, *, obligation_id: str) -> RoutingObligation | None:
    """Return one obligation routing opened."""
    return session.get(RoutingObligation, obligation_id)


def obligations_of_case(session: Session, *, case_id: str) -> list[RoutingObligation]:
    """Return every obligation routing opened for a case, oldest first."""
    return list(
        session.exec(
            select(RoutingObligation)
            .where(RoutingObligation.case_id == case_id)
            .order_by(col(RoutingObligation.started_at), col(RoutingObligation.code))
        ).all()
    )


def open_obligations_via(session: Session, *, referral_id: str) -> list[RoutingObligation]:
    """Return the open obligations an agency has through one referral."""
    return list(
        session.exec(
            select(RoutingObligation).where(
                RoutingObligation.via_referral_id == referral_id,
                RoutingObligation.status == "open",
            )
        ).all()
    )


def agency_relates_to_case(session: Session, *, case_id: str, agency_id: str) -> bool:
    """Tell whether an agency sent or received a referral, or holds an obligation, on a case."""
    referral = session.exec(
        select(Referral.referral_id).where(
            Referral.case_id == case_id,
            or_(col(Referral.to_agency_id) == agency_id, col(Referral.from_agency_id) == agency_id),
        )
    ).first()
    if referral is not None:
        return True
    duty = session.exec(
        select(RoutingObligation.obligation_id).where(
            RoutingObligation.case_id == case_id,
            or_(
                col(RoutingObligation.actor_agency_id) == agency_id,
                col(RoutingObligation.target_agency_id) == agency_id,
            ),
        )
    ).first()
    return duty is not None


def case_standing(session: Session, *, case_id: str, agency_id: str) -> tuple[bool, bool]:
    """Tell whether routing knows a case, and whether the agency reported or relates to it."""
    case = session.get(RoutingCase, case_id)
    if case is not None and case.reporter_agency_id == agency_id:
        return True, True
    related = agency_relates_to_case(session, case_id=case_id, agency_id=agency_id)
    known = case is not None or related
    if not known:
        known = (
            session.exec(select(Referral.referral_id).where(Referral.case_id == case_id)).first()
            is not None
        )
    return known, related
