"""Shelter's read side: stays, their steps and obligations. Every read of personal data is
recorded in the audit log with its fields and purpose; who may read what:

- the shelter holding the stay: everything (it collected it);
- the social protection body the sheet went to (S7/S8): the application and the sheet, which
  p.30 sends it, and nothing else;
- anyone else: the stay does not exist for them (404), and the refusal is audited.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from services.shelter import repository
from services.shelter.handlers.care import plan_json
from services.shelter.handlers.common import ShelterDeps, UnknownStay
from services.shelter.tables import ShelterObligation, ShelterRecord, ShelterStay
from shared.access import Gatekeeper
from shared.auth import Principal
from shared.clock import ALMATY
from shared.db import unit_of_work

# The steps social protection sees: what p.30 sends it (the sheet) and its own.
AUTHORITY_STEPS = frozenset({"identification", "sheet_sent", "decision", "decision_sent"})


def _local(moment: Any) -> str | None:
    return moment.astimezone(ALMATY).isoformat() if moment is not None else None


def obligation_view(row: ShelterObligation) -> dict[str, Any]:
    """Return an obligation as the API shows it."""
    return {
        "obligation_id": row.obligation_id,
        "code": row.code,
        "legal_basis": row.legal_basis,
        "actor_agency_type": row.actor_agency_type,
        "actor_agency_id": row.actor_agency_id,
        "term": row.term,
        "started_at": _local(row.started_at),
        "status": row.status,
        "met_at": _local(row.met_at),
        "cancel_reason": row.cancel_reason,
    }


def _stay_view(stay: ShelterStay) -> dict[str, Any]:
    return {
        "stay_id": stay.stay_id,
        "case_id": stay.case_id,
        "shelter_agency_id": stay.shelter_agency_id,
        "region": stay.region,
        "arrival": stay.arrival,
        "referral_id": stay.referral_id,
        "referred_by_type": stay.referred_by_type,
        "parent_stay_id": stay.parent_stay_id,
        "minor": stay.minor,
        "status": stay.status,
        "admission": stay.admission,
        "arrived_at": _local(stay.arrived_at),
        "consent_recorded": stay.consent_at is not None,
        "refuses_police": stay.refuses_police,
        "intake_case_id": stay.intake_case_id,
    }


def _record_view(record: ShelterRecord, deps: ShelterDeps) -> dict[str, Any]:
    text = deps.cipher.decrypt(record.details, field=f"record.{record.kind}")
    return {
        "kind": record.kind,
        "outcome": record.outcome,
        "legal_basis": record.legal_basis,
        "at": _local(record.at),
        "recorded_at": _local(record.recorded_at),
        "person_id": record.person_id,
        "agency_id": record.agency_id,
        "details": json.loads(text) if text else None,
    }


def _standing(session: Session, stay: ShelterStay, who: Principal) -> str | None:
    """Return how the caller relates to the stay: 'shelter', 'authority' or None."""
    if who.agency_type == "shelter" and who.agency_id == stay.shelter_agency_id:
        return "shelter"
    if who.agency_type == "social_protection":
        for code in ("S7", "S8"):
            row = repository.obligation_of_stay(session, stay_id=stay.stay_id, code=code)
            if row is not None and row.actor_agency_id == who.agency_id:
                return "authority"
    return None


def read_stay(
    stay_id: str, who: Principal, *, purpose: str, gate: Gatekeeper, deps: ShelterDeps
) -> dict[str, Any]:
    """Return a stay with the person's data, its steps, obligations and children (audited)."""
    with unit_of_work(deps.engine) as session:
        stay = repository.get_stay(session, stay_id=stay_id)
        standing = _standing(session, stay, who) if stay is not None else None
        if stay is None or standing is None:
            gate.refuse(
                who, action="stay.read", case_id=None, reason="the agency holds no such stay"
            )
            raise UnknownStay(stay_id)
        person = json.loads(deps.cipher.decrypt(stay.personal, field="stay.personal") or "{}")
        records = repository.records_of(session, stay_id=stay_id)
        if standing == "authority":
            records = [record for record in records if record.kind in AUTHORITY_STEPS]
        view = _stay_view(stay)
        view["person"] = person
        view["steps"] = [_record_view(record, deps) for record in records]
        view["obligations"] = [
            obligation_view(row) for row in repository.obligations_of_stay(session, stay_id=stay_id)
        ]
        case_key = stay.case_id or stay_id
        children = repository.children_of(session, stay_id=stay_id) if standing == "shelter" else []
        # The work plan and its journal are the shelter's own (Appendices 1-2).
        view["plan"] = plan_json(session, stay, deps) if standing == "shelter" else None
        view["children"] = [
            {
                **_stay_view(child),
                "person": json.loads(
                    deps.cipher.decrypt(child.personal, field="stay.personal") or "{}"
                ),
            }
            for child in children
        ]
    fields = sorted(
        {*person, *(f"children.{key}" for c in view["children"] for key in c["person"])}
    )
    gate.record_read(who, action="stay.read", case_id=case_key, fields=fields, purpose=purpose)
    return view


def stays_of(agency_id: str, *, deps: ShelterDeps) -> list[dict[str, Any]]:
    """Return a shelter's stays without personal data (ids, states, times)."""
    with unit_of_work(deps.engine) as session:
        return [
            _stay_view(stay) for stay in repository.stays_of_shelter(session, agency_id=agency_id)
        ]


def referrals_waiting(agency_id: str, *, deps: ShelterDeps) -> list[dict[str, Any]]:
    """Return a shelter's referrals whose person has not arrived yet."""
    with unit_of_work(deps.engine) as session:
        return [
            {
                "referral_id": row.referral_id,
                "case_id": row.case_id,
                "code": row.code,
                "from_agency_type": row.from_agency_type,
                "from_agency_id": row.from_agency_id,
                "issued_at": _local(row.issued_at),
            }
            for row in repository.waiting_referrals(session, agency_id=agency_id)
        ]


def summary(stay_id: str, *, deps: ShelterDeps) -> dict[str, Any]:
    """Return a stay's state, obligations and children's stay ids, without personal data."""
    with unit_of_work(deps.engine) as session:
        stay = repository.get_stay(session, stay_id=stay_id)
        if stay is None:
            raise UnknownStay(stay_id)
        view = _stay_view(stay)
        view["obligations"] = [
            obligation_view(row) for row in repository.obligations_of_stay(session, stay_id=stay_id)
        ]
        view["children"] = [
            child.stay_id for child in repository.children_of(session, stay_id=stay_id)
        ]
        return view
