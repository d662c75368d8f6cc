"""Shelter's queries: the only module that builds them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from services.shelter.tables import (
    IntakeReport,
    ShelterObligation,
    ShelterPlan,
    ShelterRecord,
    ShelterReferral,
    ShelterStay,
)


def get_stay(session: Session, *, stay_id: str, lock: bool = False) -> ShelterStay | None:
    """Return a stay (locked for update where the database can)."""
    query = select(ShelterStay).where(ShelterStay.stay_id == stay_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def children_of(session: Session, *, stay_id: str) -> list[ShelterStay]:
    """Return the stays of the children admitted with a parent."""
    query = select(ShelterStay).where(ShelterStay.parent_stay_id == stay_id)
    return list(session.exec(query.order_by(col(ShelterStay.stay_id))).all())


def stays_of_shelter(session: Session, *, agency_id: str) -> list[ShelterStay]:
    """Return a shelter's stays, newest first."""
    query = select(ShelterStay).where(ShelterStay.shelter_agency_id == agency_id)
    return list(session.exec(query.order_by(col(ShelterStay.arrived_at).desc())).all())


def get_obligation(session: Session, *, obligation_id: str) -> ShelterObligation | None:
    """Return an obligation the shelter opened."""
    return session.get(ShelterObligation, obligation_id)


def open_obligation(session: Session, *, stay_id: str, code: str) -> ShelterObligation | None:
    """Return the stay's open obligation of a row, if any."""
    query = select(ShelterObligation).where(
        ShelterObligation.stay_id == stay_id,
        ShelterObligation.code == code,
        ShelterObligation.status == "open",
    )
    return session.exec(query).first()


def open_obligations(session: Session, *, stay_id: str) -> list[ShelterObligation]:
    """Return the stay's open obligations."""
    query = select(ShelterObligation).where(
        ShelterObligation.stay_id == stay_id, ShelterObligation.status == "open"
    )
    return list(session.exec(query.order_by(col(ShelterObligation.started_at))).all())


def obligations_of_stay(session: Session, *, stay_id: str) -> list[ShelterObligation]:
    """Return every obligation of a stay, in the order they started."""
    query = select(ShelterObligation).where(ShelterObligation.stay_id == stay_id)
    order = (col(ShelterObligation.started_at), col(ShelterObligation.code))
    return list(session.exec(query.order_by(*order)).all())


def obligation_of_stay(session: Session, *, stay_id: str, code: str) -> ShelterObligation | None:
    """Return the stay's obligation of a row: the open one, else the newest, whatever its state."""
    query = select(ShelterObligation).where(
        ShelterObligation.stay_id == stay_id, ShelterObligation.code == code
    )
    found = list(session.exec(query.order_by(col(ShelterObligation.started_at))).all())
    open_rows = [row for row in found if row.status == "open"]
    chosen = open_rows or found
    return chosen[-1] if chosen else None


def records_of(session: Session, *, stay_id: str, kind: str | None = None) -> list[ShelterRecord]:
    """Return the steps recorded on a stay (of one kind), oldest first."""
    query = select(ShelterRecord).where(ShelterRecord.stay_id == stay_id)
    if kind is not None:
        query = query.where(ShelterRecord.kind == kind)
    return list(session.exec(query.order_by(col(ShelterRecord.recorded_at))).all())


def get_referral(session: Session, *, referral_id: str) -> ShelterReferral | None:
    """Return a referral delivered to a shelter."""
    return session.get(ShelterReferral, referral_id)


def waiting_referrals(session: Session, *, agency_id: str) -> list[ShelterReferral]:
    """Return a shelter's referrals whose person has not arrived yet."""
    query = select(ShelterReferral).where(
        ShelterReferral.shelter_agency_id == agency_id, col(ShelterReferral.stay_id).is_(None)
    )
    return list(session.exec(query.order_by(col(ShelterReferral.issued_at))).all())


def pending_reports(session: Session, *, limit: int = 20) -> list[IntakeReport]:
    """Return reports intake has not taken yet, oldest first."""
    query = select(IntakeReport).where(col(IntakeReport.sent_at).is_(None))
    return list(session.exec(query.order_by(col(IntakeReport.created_at)).limit(limit)).all())


def reports_of(session: Session, *, stay_id: str) -> list[IntakeReport]:
    """Return the reports a stay owes (or owed) intake."""
    query = select(IntakeReport).where(IntakeReport.stay_id == stay_id)
    return list(session.exec(query.order_by(col(IntakeReport.created_at))).all())


def mark_report(
    session: Session,
    report: IntakeReport,
    *,
    sent_at: datetime | None,
    error: str | None,
    case_id: str | None = None,
    report_id: str | None = None,
) -> None:
    """Record an attempt to report to intake: taken (with intake's ids) or failed."""
    report.attempts += 1
    report.sent_at = sent_at
    report.last_error = error[:200] if error else None
    report.intake_case_id = case_id
    report.intake_report_id = report_id
    session.add(report)


def plan_of_stay(session: Session, *, stay_id: str) -> ShelterPlan | None:
    """Return the stay's work plan, if drafted."""
    query = select(ShelterPlan).where(ShelterPlan.stay_id == stay_id)
    return session.exec(query.order_by(col(ShelterPlan.updated_at).desc())).first()
