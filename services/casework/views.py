"""Casework's read models, as the API answers them (ids, codes, dates; text only where audited)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine

from services.casework import domain, repository
from services.casework.tables import (
    CaseworkAction,
    CaseworkCase,
    CaseworkObligation,
    DueTime,
    ManagerAssignment,
    PlanLineRow,
)
from shared.access import CaseStanding
from shared.crypto import FieldCipher
from shared.db import unit_of_work

# The personal fields an action's full view decrypts: each read of them is audited.
ACTION_FIELDS = ("action.summary", "action.evidence")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def obligation_view(row: CaseworkObligation, due: DueTime | None = None) -> dict[str, Any]:
    """Return an obligation as the API shows it: its proof required, its due time."""
    evidence = domain.EVIDENCE.get(row.code)
    return {
        "obligation_id": row.obligation_id,
        "case_id": row.case_id,
        "code": row.code,
        "legal_basis": row.legal_basis,
        "producer": row.producer,
        "actor_agency_type": row.actor_agency_type,
        "actor_agency_id": row.actor_agency_id,
        "target_agency_type": row.target_agency_type,
        "target_agency_id": row.target_agency_id,
        "region": row.region,
        "term": row.term,
        "started_at": _iso(row.started_at),
        # As deadlines counted it (None until it did, and for a duty with no term).
        "due_at": _iso(due.due_at) if due else None,
        "breached_at": _iso(due.breached_at) if due else None,
        "status": row.status,
        "met_at": _iso(row.met_at),
        "met_by_agency_id": row.met_by_agency_id,
        "met_by_platform": row.met_by_platform,
        "cancel_reason": row.cancel_reason,
        "plan_line_id": row.plan_line_id,
        "evidence_required": (
            {"fields": list(evidence.fields), "clause": evidence.clause, "what": evidence.what}
            if evidence
            else None
        ),
        "head_approval": domain.HEAD_APPROVAL.get(row.code),
    }


def action_view(row: CaseworkAction, cipher: FieldCipher | None = None) -> dict[str, Any]:
    """Return an action; with a cipher, what was done and the proof too (an audited read)."""
    view: dict[str, Any] = {
        "action_id": row.action_id,
        "obligation_id": row.obligation_id,
        "case_id": row.case_id,
        "code": row.code,
        "agency_id": row.agency_id,
        "person_id": row.person_id,
        "role": row.role,
        "done_at": _iso(row.done_at),
        "recorded_at": _iso(row.recorded_at),
        "outcome": row.outcome,
        "status": row.status,
        "via": row.via,
        "approved_by": row.approved_by,
        "approved_at": _iso(row.approved_at),
    }
    if cipher is not None:
        view["summary"] = cipher.decrypt(row.summary, field="action.summary")
        evidence = cipher.decrypt(row.evidence, field="action.evidence")
        view["evidence"] = json.loads(evidence) if evidence else {}
    return view


def assignment_view(row: ManagerAssignment) -> dict[str, Any]:
    """Return one manager assignment."""
    return {
        "assignment_id": row.assignment_id,
        "person_id": row.person_id,
        "assigned_by": row.assigned_by,
        "assigned_at": _iso(row.assigned_at),
        "ended_at": _iso(row.ended_at),
    }


def line_view(row: PlanLineRow) -> dict[str, Any]:
    """Return a plan line given to an agency."""
    return {
        "plan_id": row.plan_id,
        "line_id": row.line_id,
        "kind": row.kind,
        "agency_id": row.agency_id,
        "agency_type": row.agency_type,
        "assigned_on": row.assigned_on.isoformat(),
        "due_on": row.due_on.isoformat(),
        "obligation_id": row.obligation_id,
    }


def case_summary(case: CaseworkCase) -> dict[str, Any]:
    """Return a case of a caseload: ids, dates and status."""
    return {
        "case_id": case.case_id,
        "body_agency_id": case.body_agency_id,
        "body_agency_type": case.body_agency_type,
        "region": case.region,
        "arrived_at": _iso(case.arrived_at),
        "status": case.status,
        "closed_at": _iso(case.closed_at),
        "close_grounds": case.close_grounds,
    }


def caseload(engine: Engine, *, agency_id: str, status: str | None) -> list[dict[str, Any]]:
    """Return a body's caseload with each case's manager."""
    with unit_of_work(engine) as session:
        found = []
        for case in repository.caseload(session, agency_id=agency_id, status=status):
            current = repository.current_assignment(session, case_id=case.case_id)
            found.append(
                {**case_summary(case), "case_manager": current.person_id if current else None}
            )
        return found


def case(engine: Engine, *, case_id: str, agency_id: str | None) -> dict[str, Any] | None:
    """Return a case: the body sees all of it; another agency its own duties and lines only."""
    with unit_of_work(engine) as session:
        held = repository.get_case(session, case_id=case_id)
        obligations = repository.obligations_of_case(session, case_id=case_id)
        if held is None and not obligations:
            return None
        whole = agency_id is None or (held is not None and held.body_agency_id == agency_id)
        lines = repository.plan_lines_of_case(session, case_id=case_id)
        due = repository.due_times(session, (each.obligation_id for each in obligations))
        return {
            "case_id": case_id,
            "case": case_summary(held) if held else None,
            "case_manager_history": (
                [assignment_view(each) for each in repository.assignments(session, case_id=case_id)]
                if whole
                else []
            ),
            "obligations": [
                obligation_view(each, due.get(each.obligation_id))
                for each in obligations
                if whole or each.actor_agency_id == agency_id
            ],
            "plan_lines": [
                line_view(each) for each in lines if whole or each.agency_id == agency_id
            ],
        }


def obligation(
    engine: Engine, *, obligation_id: str, cipher: FieldCipher | None
) -> dict[str, Any] | None:
    """Return an obligation with its actions (decrypted where a cipher is given)."""
    with unit_of_work(engine) as session:
        row = repository.get_obligation(session, obligation_id=obligation_id)
        if row is None:
            return None
        actions = repository.actions_of_obligation(session, obligation_id=obligation_id)
        held = repository.get_case(session, case_id=row.case_id)
        due = repository.due_times(session, [obligation_id]).get(obligation_id)
        return {
            **obligation_view(row, due),
            "body_agency_id": held.body_agency_id if held else None,
            "actions": [action_view(each, cipher) for each in actions],
        }


def agency_obligations(
    engine: Engine, *, agency_id: str, status: str | None
) -> list[dict[str, Any]]:
    """Return the obligations an agency owes (its work list)."""
    with unit_of_work(engine) as session:
        rows = repository.obligations_of_agency(session, agency_id=agency_id, status=status)
        due = repository.due_times(session, (each.obligation_id for each in rows))
        return [obligation_view(each, due.get(each.obligation_id)) for each in rows]


def case_standing(engine: Engine, *, case_id: str, agency_id: str) -> CaseStanding:
    """Tell whether casework knows a case and whether the agency holds it or owes on it."""
    with unit_of_work(engine) as session:
        known, related = repository.case_standing(session, case_id=case_id, agency_id=agency_id)
        return CaseStanding(known=known, related=related)


def holder(engine: Engine, *, case_id: str) -> str | None:
    """Return the body holding a case (the regional child-rights body or its stand-in)."""
    with unit_of_work(engine) as session:
        case = repository.get_case(session, case_id=case_id)
        return case.body_agency_id if case else None
