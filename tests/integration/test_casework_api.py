"""Casework's HTTP API on real databases: actions with proof, the caseload, plan lines, closing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from services.casework import handlers
from shared import audit
from shared.db import unit_of_work
from tests.integration.casework_setup import (
    COMMISSION,
    CRR,
    FAMILY,
    NOW,
    POLICE,
    PSY,
    SCHOOL,
    Casework,
    arrived,
    make_casework,
    opened,
)


@pytest.fixture
def casework(migrated_engine: Callable[[str], Engine]) -> Casework:
    return make_casework(migrated_engine("casework"))


def feed(casework: Casework, *events: object) -> None:
    for event in events:
        if type(event).__name__ == "ReferralIssued":
            handlers.on_referral_issued(event, deps=casework.deps)  # type: ignore[arg-type]
        else:
            handlers.on_obligation_opened(event, deps=casework.deps)  # type: ignore[arg-type]


NOTICE = {"notice_number": "17", "notice_date": "2026-11-23"}


def test_the_school_records_r4_with_its_notice_and_casework_publishes_it_met(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r4 = opened(case_id, "R4", SCHOOL, legal_basis="Rules 38874, p.11.1")
    feed(casework, r4)
    path = f"/v1/obligations/{r4.obligation_id}/actions"
    done_at = (NOW - timedelta(minutes=30)).isoformat()

    missing = casework.post(path, {"done_at": done_at, "evidence": {"notice_number": "17"}}, SCHOOL)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "evidence.notice_date"
    future = casework.post(
        path, {"done_at": (NOW + timedelta(minutes=5)).isoformat(), "evidence": NOTICE}, SCHOOL
    )
    assert (future.status_code, future.json()["detail"][0]["field"]) == (422, "done_at")
    early = casework.post(
        path, {"done_at": (NOW - timedelta(hours=3)).isoformat(), "evidence": NOTICE}, SCHOOL
    )
    assert early.status_code == 422
    assert "before the obligation started" in early.json()["detail"][0]["message"]
    other = casework.post(path, {"done_at": done_at, "evidence": NOTICE}, POLICE)
    assert other.status_code == 403
    assert casework.staged("obligation_fulfilled") == []

    done = casework.post(
        path, {"done_at": done_at, "evidence": NOTICE, "summary": "Called the mother"}, SCHOOL
    )
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "approved"
    assert done.json()["person_id"] == f"person-caseworker-{SCHOOL}"
    assert "summary" not in done.json()
    [met] = casework.staged("obligation_fulfilled")
    assert met["_subject"] == "qorgau.casework.obligation_fulfilled.v1"
    assert met["obligation_id"] == str(r4.obligation_id)
    assert met["met_by_agency_id"] == SCHOOL and met["met_by_platform"] is False
    assert met["met_at"].startswith((NOW - timedelta(minutes=30)).isoformat()[:16])
    # No personal data in any event: the note stays in the database, encrypted.
    assert all("mother" not in str(event) for event in casework.staged("casework"))

    again = casework.post(path, {"done_at": done_at, "evidence": NOTICE}, SCHOOL)
    assert again.status_code == 409
    assert "met already" in again.json()["detail"]


def test_reading_an_action_decrypts_it_for_the_actor_and_audits_the_read(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r4 = opened(case_id, "R4", SCHOOL)
    feed(casework, r4)
    path = f"/v1/obligations/{r4.obligation_id}"
    body = {"done_at": NOW.isoformat(), "evidence": NOTICE, "summary": "Called the mother"}
    assert casework.post(f"{path}/actions", body, SCHOOL).status_code == 201

    read = casework.get(path, SCHOOL)
    assert read.status_code == 200
    [action] = read.json()["actions"]
    assert action["summary"] == "Called the mother" and action["evidence"] == NOTICE
    assert read.json()["evidence_required"]["clause"] == "Rules 38874, p.11.1"
    assert casework.get(path, POLICE).status_code == 403
    with unit_of_work(casework.engine) as session:
        entries = audit.search(session, case_id=str(case_id), limit=10)
        outcomes = [(entry.agency_id, entry.outcome) for entry in entries]
    assert (SCHOOL, "allowed") in outcomes and (POLICE, "refused") in outcomes


def test_a_transfer_is_the_platforms_and_is_refused_as_an_action(casework: Casework) -> None:
    case_id = uuid.uuid4()
    r6 = opened(case_id, "R6", SCHOOL, target_type="minors_commission", term="working_days:3")
    feed(casework, r6)
    refused = casework.post(
        f"/v1/obligations/{r6.obligation_id}/actions", {"done_at": NOW.isoformat()}, SCHOOL
    )
    assert refused.status_code == 409
    assert "transfer" in refused.json()["detail"]


def test_the_case_reaches_the_body_which_assigns_and_reassigns_its_manager(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r8 = opened(case_id, "R8", CRR, term="working_days:1")
    feed(casework, arrived(case_id), r8)
    caseload = casework.get(f"/v1/agencies/{CRR}/caseload", CRR)
    assert [case["case_id"] for case in caseload.json()["cases"]] == [str(case_id)]
    assert casework.get(f"/v1/agencies/{CRR}/caseload", POLICE).status_code == 403

    path = f"/v1/cases/{case_id}/manager"
    assert casework.post(path, {"person_id": "p-17"}, CRR, "caseworker").status_code == 403
    assert casework.post(path, {"person_id": "p-17"}, POLICE, "head").status_code == 403
    assert casework.post(path, {"person_id": "Aigerim B."}, CRR, "head").status_code == 422
    first = casework.post(path, {"person_id": "p-17"}, CRR, "head")
    assert first.status_code == 201
    [met] = casework.staged("obligation_fulfilled")
    assert (met["obligation_id"], met["code"]) == (str(r8.obligation_id), "R8")

    casework.clock.advance(timedelta(days=2))
    assert casework.post(path, {"person_id": "p-17"}, CRR, "head").status_code == 409
    assert casework.post(path, {"person_id": "p-23"}, CRR, "head").status_code == 201
    history = casework.get(f"/v1/cases/{case_id}", CRR).json()["case_manager_history"]
    assert [each["person_id"] for each in history] == ["p-17", "p-23"]
    assert history[0]["ended_at"] is not None and history[1]["ended_at"] is None
    # R8 was met once, by the first assignment.
    assert len(casework.staged("obligation_fulfilled")) == 1
    assert (
        casework.get(f"/v1/agencies/{CRR}/caseload", CRR).json()["cases"][0]["case_manager"]
        == "p-23"
    )


def test_the_guardianship_body_standing_in_gets_the_caseload(casework: Casework) -> None:
    case_id = uuid.uuid4()
    guardianship = "kz-75-guardianship"
    feed(casework, arrived(case_id, to=guardianship, acting_for="child_rights_regional"))
    found = casework.get(f"/v1/agencies/{guardianship}/caseload", guardianship)
    assert [case["case_id"] for case in found.json()["cases"]] == [str(case_id)]


def test_a_caseworkers_assessment_is_a_draft_until_the_head_approves_it(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r19 = opened(case_id, "R19", CRR, term="working_days:1")
    feed(casework, arrived(case_id), r19)
    draft = casework.post(
        f"/v1/obligations/{r19.obligation_id}/actions", {"done_at": NOW.isoformat()}, CRR
    )
    assert draft.status_code == 201 and draft.json()["status"] == "draft"
    assert casework.staged("obligation_fulfilled") == []

    approve = f"/v1/actions/{draft.json()['action_id']}/approve"
    assert casework.client.post(approve, headers=casework.auth(CRR)).status_code == 403
    assert casework.client.post(approve, headers=casework.auth(POLICE, "head")).status_code == 403
    casework.clock.advance(timedelta(hours=1))
    approved = casework.client.post(approve, headers=casework.auth(CRR, "head"))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    [met] = casework.staged("obligation_fulfilled")
    # Met when it was done, not when it was approved.
    assert met["met_at"].startswith(NOW.isoformat()[:19])
    assert casework.client.post(approve, headers=casework.auth(CRR, "head")).status_code == 409


def test_plan_lines_open_obligations_on_their_agencies_who_see_only_their_own(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    feed(casework, arrived(case_id))
    plan_id, psy_line, family_line = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    line = {"assigned_on": "2026-11-23", "due_date": "2026-12-07"}
    path = f"/v1/cases/{case_id}/plan-lines"
    unknown = casework.post(
        path,
        {
            "plan_id": str(plan_id),
            "lines": [
                {
                    **line,
                    "line_id": str(psy_line),
                    "kind": "psychological",
                    "responsible_agency_id": "nowhere",
                }
            ],
        },
        CRR,
        "head",
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "lines.0.responsible_agency_id"
    backwards = casework.post(
        path,
        {
            "plan_id": str(plan_id),
            "lines": [
                {
                    "line_id": str(psy_line),
                    "kind": "psychological",
                    "responsible_agency_id": PSY,
                    "assigned_on": "2026-11-23",
                    "due_date": "2026-11-20",
                }
            ],
        },
        CRR,
        "head",
    )
    assert backwards.status_code == 422
    body = {
        "plan_id": str(plan_id),
        "lines": [
            {
                **line,
                "line_id": str(psy_line),
                "kind": "psychological",
                "responsible_agency_id": PSY,
            },
            {
                **line,
                "line_id": str(family_line),
                "kind": "social",
                "responsible_agency_id": FAMILY,
            },
        ],
    }
    assert casework.post(path, body, CRR, "caseworker").status_code == 403
    given = casework.post(path, body, CRR, "head")
    assert given.status_code == 201, given.text
    assert casework.post(path, body, CRR, "head").status_code == 201
    opened_lines = casework.staged("obligation_opened")
    assert len(opened_lines) == 2
    assert {each["actor_agency_id"] for each in opened_lines} == {PSY, FAMILY}
    assert {each["code"] for each in opened_lines} == {"R20"}
    assert {each["legal_basis"] for each in opened_lines} == {"Rules 38874, p.22, Appendix 2"}
    assert {each["term"] for each in opened_lines} == {"calendar_days:14"}
    assigned = casework.staged("plan_line_assigned")
    assert {each["to_agency_id"] for each in assigned} == {PSY, FAMILY}

    seen_by_psy = casework.get(f"/v1/cases/{case_id}", PSY).json()
    assert [each["agency_id"] for each in seen_by_psy["plan_lines"]] == [PSY]
    assert seen_by_psy["case_manager_history"] == []
    assert len(casework.get(f"/v1/cases/{case_id}", CRR).json()["plan_lines"]) == 2
    assert casework.get(f"/v1/cases/{case_id}", POLICE).status_code == 403

    work = casework.get(f"/v1/agencies/{PSY}/obligations?status=open", PSY).json()
    [psy_obligation] = work["obligations"]
    done = casework.post(
        f"/v1/obligations/{psy_obligation['obligation_id']}/actions",
        {"done_at": NOW.isoformat(), "summary": "Five sessions"},
        PSY,
    )
    assert done.status_code == 201
    assert casework.staged("obligation_fulfilled")[0]["met_by_agency_id"] == PSY


def test_commission_measures_are_its_action_with_the_resolution(casework: Casework) -> None:
    case_id = uuid.uuid4()
    r21 = opened(case_id, "R21", COMMISSION, term="working_days:10")
    feed(casework, r21)
    path = f"/v1/obligations/{r21.obligation_id}/actions"
    assert casework.post(path, {"done_at": NOW.isoformat()}, COMMISSION, "head").status_code == 422
    resolution = {"resolution_number": "44", "resolution_date": "2026-11-23"}
    done = casework.post(
        path, {"done_at": NOW.isoformat(), "evidence": resolution}, COMMISSION, "head"
    )
    assert done.status_code == 201 and done.json()["status"] == "approved"
    assert casework.staged("obligation_fulfilled")[0]["code"] == "R21"


def test_the_head_closes_the_case_cancelling_what_is_open_and_refusing_more(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r9 = opened(case_id, "R9", CRR)
    r4 = opened(case_id, "R4", SCHOOL)
    feed(casework, arrived(case_id), r9, r4)
    path = f"/v1/cases/{case_id}/close"
    assert casework.post(path, {"grounds": "causes_removed"}, CRR).status_code == 403
    assert casework.post(path, {"grounds": "tired"}, CRR, "head").status_code == 422
    closed = casework.post(
        path, {"grounds": "causes_removed", "note": "Family stable"}, CRR, "head"
    )
    assert closed.status_code == 200
    assert closed.json()["cancelled_obligations"] == 2
    cancelled = casework.staged("obligation_cancelled")
    assert {each["obligation_id"] for each in cancelled} == {
        str(r9.obligation_id),
        str(r4.obligation_id),
    }
    assert all(each["_subject"] == "qorgau.casework.obligation_cancelled.v1" for each in cancelled)
    assert all("Guide, p.8.10" in each["reason"] for each in cancelled)
    assert casework.post(path, {"grounds": "causes_removed"}, CRR, "head").status_code == 409
    late = casework.post(
        f"/v1/obligations/{r4.obligation_id}/actions",
        {"done_at": NOW.isoformat(), "evidence": NOTICE},
        SCHOOL,
    )
    assert late.status_code == 409
