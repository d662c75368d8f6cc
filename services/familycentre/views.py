"""What the family centre answers: rows and plans as JSON, personal data only where asked for
(the route audits that read)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from services.familycentre import domain, records, repository
from services.familycentre.handlers.appeals import (
    ASSESSMENT_FIELD,
    NEEDS_FIELD,
    PERSON_FIELD,
    SUMMARY_FIELD,
)
from services.familycentre.handlers.stays import NOTE_FIELD
from services.familycentre.handlers.support import MEMBERS_FIELD, PEOPLE_FIELD
from services.familycentre.tables import (
    Appeal,
    CentreObligation,
    CentrePlan,
    MobileGroup,
    Stay,
    SupportMeasure,
)
from shared.clock import ALMATY
from shared.crypto import FieldCipher
from shared.plans import Plan

# The personal data an appeal's full view reads (named in the audit entry).
APPEAL_PERSONAL_FIELDS = (PERSON_FIELD, SUMMARY_FIELD, ASSESSMENT_FIELD, NEEDS_FIELD, NOTE_FIELD)


def obligation(row: CentreObligation) -> dict[str, Any]:
    """Return an obligation as the centre knows it."""
    return {
        "obligation_id": row.obligation_id,
        "case_id": row.case_id,
        "code": row.code,
        "legal_basis": row.legal_basis,
        "producer": row.producer,
        "actor_agency_type": row.actor_agency_type,
        "actor_agency_id": row.actor_agency_id,
        "term": row.term,
        "started_at": row.started_at.isoformat(),
        "status": row.status,
        "met_at": row.met_at.isoformat() if row.met_at else None,
        "plan_id": row.plan_id,
        "line_id": row.line_id,
    }


def appeal(session: Session, row: Appeal) -> dict[str, Any]:
    """Return an appeal without personal data: channel, stage, dates, flags, obligations."""
    return {
        "appeal_id": row.appeal_id,
        "case_id": row.case_id,
        "centre_agency_id": row.centre_agency_id,
        "region": row.region,
        "channel": row.channel,
        "legal_basis": domain.f1(domain.Channel(row.channel)).legal_basis,
        "received_at": row.received_at.isoformat(),
        "referral_id": row.referral_id,
        "threat_to_life": row.threat_to_life,
        "domestic_violence": row.domestic_violence,
        "consent_given_on": row.consent_given_on.isoformat() if row.consent_given_on else None,
        "stage": row.stage,
        "first_response": row.response_kind,
        "redirected_to": row.redirected_to,
        "responded_at": row.responded_at.isoformat() if row.responded_at else None,
        "assessed_at": row.assessed_at.isoformat() if row.assessed_at else None,
        "difficult_situation": row.difficult_situation,
        "needs_at": row.needs_at.isoformat() if row.needs_at else None,
        "mobile_group_id": row.group_id,
        "engaged_at": row.engaged_at.isoformat() if row.engaged_at else None,
        "shelter_agency_id": row.shelter_agency_id,
        "plans": [p.plan_id for p in repository.plans_of_appeal(session, appeal_id=row.appeal_id)],
        "support_measures": [
            measure(each) for each in repository.measures_of(session, appeal_id=row.appeal_id)
        ],
        "obligations": [
            obligation(each)
            for each in repository.obligations_of_case(session, case_id=row.case_id)
        ],
    }


def measure(row: SupportMeasure) -> dict[str, Any]:
    """Return a support measure of p.23 without what the employee wrote of it."""
    kind = domain.SupportKind(row.kind)
    return {
        "measure_id": row.measure_id,
        "appeal_id": row.appeal_id,
        "kind": row.kind,
        "legal_basis": f"{domain.ACT}, {domain.SUPPORT_CLAUSE[kind]}",
        "provided_on": row.provided_on.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
    }


def appeal_personal(
    cipher: FieldCipher, row: Appeal, measures: Sequence[SupportMeasure] = ()
) -> dict[str, Any]:
    """Return what an appeal holds of the person: decrypted (the caller audits the read)."""
    return {
        "person": records.unseal(cipher, row.person, field=PERSON_FIELD),
        "summary": records.unseal(cipher, row.summary, field=SUMMARY_FIELD),
        "assessment": records.unseal(cipher, row.assessment, field=ASSESSMENT_FIELD),
        "needs": records.unseal(cipher, row.needs, field=NEEDS_FIELD),
        "support_measures": [
            {**measure(m), "note": records.unseal(cipher, m.note, field=NOTE_FIELD)}
            for m in measures
        ],
    }


def plan(row: CentrePlan, value: Plan) -> dict[str, Any]:
    """Return a plan with every version (history), its outcomes and its ending."""
    return {
        "plan_id": row.plan_id,
        "case_id": row.case_id,
        "appeal_id": row.appeal_id,
        "kind": value.kind.code,
        "row": value.kind.row,
        "legal_basis": value.kind.legal_basis,
        "status": row.status,
        "version": value.current.number,
        "versions": [
            {
                "number": v.number,
                "status": v.status.value,
                "period_start": v.period_start.isoformat(),
                "period_end": v.period_end.isoformat(),
                "specialists": list(v.specialists),
                "revision_reason": v.revision_reason,
                "signoffs": [
                    {"role": s.role, "signer": s.signer, "signed_on": s.signed_on.isoformat()}
                    for s in v.signoffs
                ],
                "approved_by": v.approval.by if v.approval else None,
                "approved_at": v.approval.at.isoformat() if v.approval else None,
                "lines": [
                    {
                        "line_id": line.line_id,
                        "kind": line.kind,
                        "activity": line.activity,
                        "assigned_on": line.assigned_on.isoformat(),
                        "due_on": line.due_on.isoformat(),
                        "responsible": line.responsible,
                        "status": line.status.value,
                        "done_on": line.done_on.isoformat() if line.done_on else None,
                        "result": line.result,
                    }
                    for line in value.lines(v.number)
                ],
            }
            for v in value.versions
        ],
        "ending": (
            {
                "ground": value.ending.ground,
                "ended_on": value.ending.ended_on.isoformat(),
                "note": value.ending.note,
                "legal_basis": domain.F6.legal_basis,
            }
            if value.ending
            else None
        ),
    }


def group(cipher: FieldCipher, row: MobileGroup, *, personal: bool) -> dict[str, Any]:
    """Return a mobile group, its members' names only when asked (the caller audits)."""
    term = domain.GroupTerm(row.year, row.order_ref, row.order_date)
    members = records.unseal(cipher, row.members, field=MEMBERS_FIELD) or []
    return {
        "group_id": row.group_id,
        "centre_agency_id": row.centre_agency_id,
        "coordinator_agency_id": row.coordinator_agency_id,
        "year": row.year,
        "valid_from": term.valid_from.isoformat(),
        "valid_to": term.valid_to.isoformat(),
        "order_ref": row.order_ref,
        "order_date": row.order_date.isoformat(),
        "legal_basis": f"{domain.ACT}, p.21",
        "members": members if personal else [{"agency_type": m["agency_type"]} for m in members],
    }


def stay(cipher: FieldCipher, row: Stay, *, personal: bool) -> dict[str, Any]:
    """Return a stay; the people's data only when asked (the caller audits)."""
    found: dict[str, Any] = {
        "stay_id": row.stay_id,
        "case_id": row.case_id,
        "appeal_id": row.appeal_id,
        "basis": row.basis,
        "legal_basis": f"{domain.ACT}, p.23.5, p.25"
        + (", p.26" if row.accompanying_minors else ""),
        "room": row.room,
        "admitted_at": row.admitted_at.isoformat(),
        "until": row.until.isoformat(),
        "left_at": row.left_at.isoformat() if row.left_at else None,
        "accompanying_minors": row.accompanying_minors,
        # Intake's case on the person and the children's own cases (minors who witnessed
        # violence), once intake has taken the centre's report (ids only).
        "intake_case_id": row.intake_case_id,
        "child_case_ids": json.loads(row.child_case_ids) if row.child_case_ids else None,
    }
    if personal:
        found["people"] = records.unseal(cipher, row.people, field=PEOPLE_FIELD)
    return found


def figures(engine: Engine, *, agency_id: str, day: datetime) -> dict[str, Any]:
    """Return a centre's figures: appeals of the day by channel, plans by status and ground,
    stays, and the appeal rate over the last 30 days with the Appendix's column."""
    start = day.astimezone(ALMATY).replace(hour=0, minute=0, second=0, microsecond=0)
    with Session(engine) as session:
        today = repository.appeals_between(
            session, agency_id=agency_id, start=start, end=start + timedelta(days=1)
        )
        month = repository.appeals_between(
            session,
            agency_id=agency_id,
            start=start - timedelta(days=29),
            end=start + timedelta(days=1),
        )
        plans = repository.plans_of_centre(session, agency_id=agency_id)
        stays = repository.stays_of_centre(session, agency_id=agency_id)
        rooms = repository.rooms_of_centre(session, agency_id=agency_id)
    rate = len(month) / 30
    occupancy: dict[str, int] = {room.room: 0 for room in rooms}
    for each in stays:
        occupancy.setdefault(each.room, 0)
        if each.left_at is None:
            occupancy[each.room] += 1 + each.accompanying_minors
    return {
        "day": start.date().isoformat(),
        "appeals_by_channel": dict(Counter(a.channel for a in today)),
        "plans_by_status": dict(Counter(p.status for p in plans if p.kind == "family_work")),
        "plans_ended_by_ground": dict(Counter(p.ended_ground for p in plans if p.ended_ground)),
        "stays_current": sum(1 for s in stays if s.left_at is None),
        # Occupancy: the people staying in each room now (the person and the children, p.26).
        "occupancy_by_room": occupancy,
        "capacity_by_room": {room.room: room.capacity for room in rooms},
        "stays_total": len(stays),
        "appeals_per_day_30d": round(rate, 2),
        "staff_column": ("up to 50", "51-100", "over 100")[domain.appeal_band(rate)],
    }
