"""The family centre's queries: handlers and views ask here, never build SQL themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from services.familycentre.tables import (
    Appeal,
    CentreObligation,
    CentrePlan,
    DirectoryAgency,
    IntakeReport,
    MobileGroup,
    Room,
    Stay,
    SupportMeasure,
)


def get_obligation(session: Session, *, obligation_id: str) -> CentreObligation | None:
    """Return an obligation the centre knows."""
    return session.get(CentreObligation, obligation_id)


def obligations_of_case(session: Session, *, case_id: str) -> Sequence[CentreObligation]:
    """Return a case's obligations the centre knows, oldest first."""
    return session.exec(
        select(CentreObligation)
        .where(CentreObligation.case_id == case_id)
        .order_by(col(CentreObligation.started_at), col(CentreObligation.code))
    ).all()


def obligations_of_line(
    session: Session, *, plan_id: str, line_id: str
) -> Sequence[CentreObligation]:
    """Return the obligations a plan line carries."""
    return session.exec(
        select(CentreObligation).where(
            CentreObligation.plan_id == plan_id, CentreObligation.line_id == line_id
        )
    ).all()


def obligations_of_plan(session: Session, *, plan_id: str) -> Sequence[CentreObligation]:
    """Return the obligations a plan's lines carry."""
    return session.exec(select(CentreObligation).where(CentreObligation.plan_id == plan_id)).all()


def get_appeal(session: Session, *, appeal_id: str) -> Appeal | None:
    """Return an appeal."""
    return session.get(Appeal, appeal_id)


def appeal_of_referral(session: Session, *, referral_id: str) -> Appeal | None:
    """Return the appeal a routing referral became."""
    return session.exec(select(Appeal).where(Appeal.referral_id == referral_id)).first()


def appeals_of_centre(
    session: Session, *, agency_id: str, stage: str | None = None
) -> Sequence[Appeal]:
    """Return a centre's appeals, newest first."""
    query = select(Appeal).where(Appeal.centre_agency_id == agency_id)
    if stage is not None:
        query = query.where(Appeal.stage == stage)
    return session.exec(query.order_by(col(Appeal.received_at).desc())).all()


def appeals_between(
    session: Session, *, agency_id: str, start: datetime, end: datetime
) -> Sequence[Appeal]:
    """Return a centre's appeals received in [start, end)."""
    return session.exec(
        select(Appeal).where(
            Appeal.centre_agency_id == agency_id,
            col(Appeal.received_at) >= start,
            col(Appeal.received_at) < end,
        )
    ).all()


def get_plan(session: Session, *, plan_id: str) -> CentrePlan | None:
    """Return a plan."""
    return session.get(CentrePlan, plan_id)


def plans_of_appeal(session: Session, *, appeal_id: str) -> Sequence[CentrePlan]:
    """Return an appeal's plans (the work plan, an emergency plan)."""
    return session.exec(select(CentrePlan).where(CentrePlan.appeal_id == appeal_id)).all()


def plans_of_centre(session: Session, *, agency_id: str) -> Sequence[CentrePlan]:
    """Return a centre's plans."""
    return session.exec(select(CentrePlan).where(CentrePlan.centre_agency_id == agency_id)).all()


def get_group(session: Session, *, group_id: str) -> MobileGroup | None:
    """Return a mobile group."""
    return session.get(MobileGroup, group_id)


def get_stay(session: Session, *, stay_id: str) -> Stay | None:
    """Return a stay."""
    return session.get(Stay, stay_id)


def stays_of_centre(session: Session, *, agency_id: str) -> Sequence[Stay]:
    """Return a centre's stays, newest first."""
    return session.exec(
        select(Stay)
        .where(Stay.centre_agency_id == agency_id)
        .order_by(col(Stay.admitted_at).desc())
    ).all()


def get_agency(session: Session, *, agency_id: str) -> DirectoryAgency | None:
    """Return an agency of the directory replica."""
    return session.get(DirectoryAgency, agency_id)


def agency_of_type(session: Session, *, agency_type: str, region: str) -> DirectoryAgency | None:
    """Return the active agency of a type in a region (the addressee of a notice)."""
    return session.exec(
        select(DirectoryAgency).where(
            DirectoryAgency.agency_type == agency_type,
            DirectoryAgency.region == region,
            col(DirectoryAgency.active).is_(True),
        )
    ).first()


def occupied(session: Session, *, agency_id: str, room: str) -> int:
    """Return the people staying in a room now: each person and the children with them (p.26)."""
    query = select(Stay).where(
        Stay.centre_agency_id == agency_id, Stay.room == room, col(Stay.left_at).is_(None)
    )
    return sum(1 + stay.accompanying_minors for stay in session.exec(query).all())


def held_room(session: Session, *, agency_id: str, room: str) -> Room | None:
    """Return a declared room, locked against a concurrent admission where the database can."""
    query = select(Room).where(Room.centre_agency_id == agency_id, Room.room == room)
    return session.exec(query.with_for_update()).first()


def rooms_of_centre(session: Session, *, agency_id: str) -> Sequence[Room]:
    """Return a centre's declared rooms, by name."""
    query = select(Room).where(Room.centre_agency_id == agency_id)
    return session.exec(query.order_by(col(Room.room))).all()


def measures_of(session: Session, *, appeal_id: str) -> Sequence[SupportMeasure]:
    """Return the p.23 measures given on an appeal, in the order given."""
    query = select(SupportMeasure).where(SupportMeasure.appeal_id == appeal_id)
    return session.exec(
        query.order_by(col(SupportMeasure.provided_on), col(SupportMeasure.recorded_at))
    ).all()


def pending_reports(session: Session, *, max_attempts: int, limit: int = 20) -> list[IntakeReport]:
    """Return reports intake has not taken, or whose children's cases are not read back yet."""
    query = select(IntakeReport).where(
        col(IntakeReport.sent_at).is_(None) | col(IntakeReport.child_case_ids).is_(None),
        col(IntakeReport.attempts) < max_attempts,
    )
    return list(session.exec(query.order_by(col(IntakeReport.created_at)).limit(limit)).all())


def reports_of(session: Session, *, stay_id: str) -> Sequence[IntakeReport]:
    """Return the reports a stay owes (or owed) intake."""
    query = select(IntakeReport).where(IntakeReport.stay_id == stay_id)
    return session.exec(query.order_by(col(IntakeReport.created_at))).all()
