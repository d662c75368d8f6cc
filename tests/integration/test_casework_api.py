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
    assert casework.client.post(approve, json={}, headers=casework.auth(CRR)).status_code == 403
    assert (
        casework.client.post(approve, json={}, headers=casework.auth(POLICE, "head")).status_code
        == 403
    )
    casework.clock.advance(timedelta(hours=1))
    approved = casework.client.post(approve, json={}, headers=casework.auth(CRR, "head"))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    [met] = casework.staged("obligation_fulfilled")
    # Met when it was done, not when it was approved.
    assert met["met_at"].startswith(NOW.isoformat()[:19])
    assert (
        casework.client.post(approve, json={}, headers=casework.auth(CRR, "head")).status_code
        == 409
    )


PERIOD = {
    "period_start": "2026-11-23",
    "period_end": "2027-05-23",
    "assessed_from": "2026-11-20",
    "assessed_to": "2026-11-22",
}


def approved_plan(casework: Casework, case_id: uuid.UUID) -> tuple[str, str, str]:
    """Draft, fill and approve a plan with a psychological and a social line; return the ids."""
    plan = casework.post(f"/v1/cases/{case_id}/plans", PERIOD, CRR)
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["plan_id"]
    psy_line, family_line = str(uuid.uuid4()), str(uuid.uuid4())
    line = {"assigned_on": "2026-11-23", "due_on": "2026-12-07"}
    for line_id, kind, agency in (
        (psy_line, "psychological", PSY),
        (family_line, "social", FAMILY),
    ):
        body = {**line, "kind": kind, "activity": f"{kind} help", "responsible": agency}
        put = casework.client.put(
            f"/v1/plans/{plan_id}/lines/{line_id}", json=body, headers=casework.auth(CRR)
        )
        assert put.status_code == 200, put.text
    consent = casework.client.put(
        f"/v1/plans/{plan_id}/consent",
        json={"name": "Айгүл Серікқызы", "given_on": "2026-11-23"},
        headers=casework.auth(CRR),
    )
    assert consent.status_code == 200, consent.text
    approved = casework.client.post(
        f"/v1/plans/{plan_id}/approve", json={}, headers=casework.auth(CRR, "head")
    )
    assert approved.status_code == 200, approved.text
    return plan_id, psy_line, family_line


def test_a_plan_refuses_an_unknown_organisation_and_bad_dates_by_field(casework: Casework) -> None:
    case_id = uuid.uuid4()
    feed(casework, arrived(case_id))
    plan_id = casework.post(f"/v1/cases/{case_id}/plans", PERIOD, CRR).json()["plan_id"]
    line = {"kind": "psychological", "activity": "sessions", "assigned_on": "2026-11-23"}
    path = f"/v1/plans/{plan_id}/lines/l1"
    unknown = casework.client.put(
        path,
        json={**line, "due_on": "2026-12-07", "responsible": "nowhere"},
        headers=casework.auth(CRR),
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "lines.l1.responsible"
    backwards = casework.client.put(
        path, json={**line, "due_on": "2026-11-20", "responsible": PSY}, headers=casework.auth(CRR)
    )
    assert (backwards.status_code, backwards.json()["detail"][0]["field"]) == (
        422,
        "lines.l1.due_on",
    )
    no_consent = casework.client.put(
        path, json={**line, "due_on": "2026-12-07", "responsible": PSY}, headers=casework.auth(CRR)
    )
    assert no_consent.status_code == 200
    refused = casework.client.post(
        f"/v1/plans/{plan_id}/approve", json={}, headers=casework.auth(CRR, "head")
    )
    assert (refused.status_code, refused.json()["detail"][0]["field"]) == (422, "consent")
    assert casework.staged("obligation_opened") == []
    caseworker = casework.client.post(
        f"/v1/plans/{plan_id}/approve", json={}, headers=casework.auth(CRR)
    )
    assert caseworker.status_code == 403


def test_an_approved_plan_gives_each_organisation_its_line_and_meets_r20(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r20 = opened(case_id, "R20", CRR, term="none")
    feed(casework, arrived(case_id), r20)
    plan_id, psy_line, _ = approved_plan(casework, case_id)
    [met] = casework.staged("obligation_fulfilled")
    assert (met["obligation_id"], met["code"]) == (str(r20.obligation_id), "R20")
    opened_lines = casework.staged("obligation_opened")
    assert {each["actor_agency_id"] for each in opened_lines} == {PSY, FAMILY}
    assert {each["code"] for each in opened_lines} == {"R20"}
    assert {each["legal_basis"] for each in opened_lines} == {"Rules 38874, p.22, Appendix 2"}
    # Due 2026-12-07, assigned Monday 2026-11-23 in Almaty: 14 calendar days.
    assert {each["term"] for each in opened_lines} == {"calendar_days:14"}
    assigned = casework.staged("plan_line_assigned")
    assert {each["to_agency_id"] for each in assigned} == {PSY, FAMILY}
    # No personal data in any event: the consent's name stays in the encrypted plan.
    assert all("Айгүл" not in str(event) for event in casework.staged("casework"))

    seen_by_psy = casework.get(f"/v1/plans/{plan_id}", PSY).json()
    assert [each["responsible"] for each in seen_by_psy["lines"]] == [PSY]
    assert "versions" not in seen_by_psy
    whole = casework.get(f"/v1/cases/{case_id}/plan", CRR).json()
    assert len(whole["lines"]) == 2
    assert whole["versions"][0]["consent"]["name"] == "Айгүл Серікқызы"
    assert casework.get(f"/v1/plans/{plan_id}", POLICE).status_code == 403
    approved_twice = casework.client.post(
        f"/v1/plans/{plan_id}/approve", json={}, headers=casework.auth(CRR, "head")
    )
    assert approved_twice.status_code == 409

    work = casework.get(f"/v1/agencies/{PSY}/obligations?status=open", PSY).json()
    [psy_obligation] = work["obligations"]
    assert psy_obligation["plan_line_id"] == psy_line
    path = f"/v1/obligations/{psy_obligation['obligation_id']}/actions"
    before = casework.post(
        path, {"done_at": (NOW - timedelta(days=1)).isoformat(), "summary": "Sessions"}, PSY
    )
    assert (before.status_code, before.json()["detail"][0]["field"]) == (422, "done_at")
    done = casework.post(path, {"done_at": NOW.isoformat(), "summary": "Five sessions"}, PSY)
    assert done.status_code == 201
    assert casework.staged("obligation_fulfilled")[-1]["met_by_agency_id"] == PSY
    line = next(
        each
        for each in casework.get(f"/v1/plans/{plan_id}", CRR).json()["lines"]
        if each["line_id"] == psy_line
    )
    assert (line["status"], line["done_on"], line["result"]) == (
        "done",
        "2026-11-23",
        "Five sessions",
    )


def test_a_revision_keeps_history_and_cancels_a_dropped_line(casework: Casework) -> None:
    case_id = uuid.uuid4()
    feed(casework, arrived(case_id))
    plan_id, _, family_line = approved_plan(casework, case_id)
    revised = casework.post(f"/v1/plans/{plan_id}/revisions", {"reason": "family moved"}, CRR)
    assert revised.status_code == 201 and revised.json()["version"] == 2
    dropped = casework.client.delete(
        f"/v1/plans/{plan_id}/lines/{family_line}", headers=casework.auth(CRR)
    )
    assert dropped.status_code == 200
    casework.client.put(
        f"/v1/plans/{plan_id}/consent",
        json={"not_obtained_reason": "parent unreachable"},
        headers=casework.auth(CRR),
    )
    approved = casework.client.post(
        f"/v1/plans/{plan_id}/approve", json={}, headers=casework.auth(CRR, "head")
    )
    assert approved.status_code == 200, approved.text
    [cancelled] = casework.staged("obligation_cancelled")
    assert "removed by revision 2" in cancelled["reason"]
    assert len(casework.staged("obligation_opened")) == 2
    statuses = [
        each["status"] for each in casework.get(f"/v1/plans/{plan_id}", CRR).json()["versions"]
    ]
    assert statuses == ["superseded", "approved"]


def test_the_assessment_is_drafted_approved_by_the_head_and_corrected_as_a_new_version(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    r19 = opened(case_id, "R19", CRR, term="working_days:1")
    feed(casework, arrived(case_id), r19)
    path = f"/v1/cases/{case_id}/assessment"
    partial = {"child": {"full_name": "Әлия Нұрланқызы", "sex": "female", "age": 9}}
    draft = casework.client.put(path, json=partial, headers=casework.auth(CRR))
    assert draft.status_code == 200 and draft.json()["status"] == "draft"
    early = casework.client.post(f"{path}/approve", json={}, headers=casework.auth(CRR, "head"))
    assert (early.status_code, early.json()["detail"][0]["field"]) == (422, "assessors")
    text = "observed"
    full = {
        **partial,
        "assessors": [{"full_name": "Сания Ахметова", "position": "psychologist"}],
        "home_family": text,
        "relations": text,
        "needs": dict.fromkeys(
            ("social", "legal", "medical", "psychological", "educational"), text
        ),
        "psych_pedagogical": dict.fromkeys(
            ("safety", "social_skills", "family_ties", "emotional_behaviour", "education"), text
        ),
        "psychological": dict.fromkeys(
            ("wellbeing", "past_trauma", "self_esteem", "relatives"), text
        ),
        "conclusions": text,
        "signed_on": "2026-11-23",
    }
    assert casework.client.put(path, json=full, headers=casework.auth(CRR)).status_code == 200
    assert (
        casework.client.post(f"{path}/approve", json={}, headers=casework.auth(CRR)).status_code
        == 403
    )
    approved = casework.client.post(f"{path}/approve", json={}, headers=casework.auth(CRR, "head"))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    [met] = casework.staged("obligation_fulfilled")
    assert (met["obligation_id"], met["code"]) == (str(r19.obligation_id), "R19")
    assert all("Әлия" not in str(event) for event in casework.staged("casework"))

    changed = casework.client.put(path, json=full, headers=casework.auth(CRR))
    assert changed.status_code == 409
    corrected = casework.post(f"{path}/corrections", {"reason": "school changed"}, CRR)
    assert corrected.status_code == 201 and corrected.json()["version"] == 2
    read = casework.get(path, CRR).json()
    assert [v["status"] for v in read["versions"]] == ["approved", "draft"]
    assert read["versions"][0]["form"]["child"]["full_name"] == "Әлия Нұрланқызы"
    assert casework.get(path, POLICE).status_code == 403
    assert len(casework.staged("obligation_fulfilled")) == 1


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


def test_the_body_prints_the_plan_and_the_assessment_in_kazakh_and_russian(
    casework: Casework,
) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    case_id = uuid.uuid4()
    feed(casework, arrived(case_id))
    casework.client.put(
        f"/v1/cases/{case_id}/assessment",
        json={"child": {"full_name": "Әлия Нұрланқызы", "sex": "female", "age": 9}},
        headers=casework.auth(CRR),
    )
    plan_id, _, _ = approved_plan(casework, case_id)
    for lang in ("kk", "ru"):
        html = casework.get(f"/v1/plans/{plan_id}/document?lang={lang}&format=html", CRR)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "Әлия Нұрланқызы" in html.text
        pdf = casework.get(f"/v1/plans/{plan_id}/document?lang={lang}", CRR)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf.content)).pages)
        assert "Әлия" in text
        printed = casework.get(f"/v1/cases/{case_id}/assessment/document?lang={lang}", CRR)
        assert printed.status_code == 200
        assert printed.content.startswith(b"%PDF")
    assert casework.get(f"/v1/plans/{plan_id}/document?lang=en", CRR).status_code == 422
    assert (
        casework.get(f"/v1/plans/{plan_id}/document?version=1&format=html", CRR).status_code == 200
    )
    assert casework.get(f"/v1/plans/{plan_id}/document?version=7", CRR).status_code == 404
    assert casework.get(f"/v1/plans/{plan_id}/document", PSY).status_code == 403
    with unit_of_work(casework.engine) as session:
        prints = [
            entry.action
            for entry in audit.search(session, case_id=str(case_id), limit=50)
            if entry.outcome == "allowed"
        ]
    assert prints.count("plan.print") == 6 and prints.count("assessment.print") == 2


def test_a_line_not_done_is_recorded_on_the_plan_and_its_obligation_stays_open(
    casework: Casework,
) -> None:
    from shared.contracts.casework import AgencyObligationAction, NotDoneReason

    case_id = uuid.uuid4()
    feed(casework, arrived(case_id))
    plan_id, psy_line, family_line = approved_plan(casework, case_id)
    lines = {
        each["agency_id"]: each
        for each in casework.get(f"/v1/cases/{case_id}", CRR).json()["plan_lines"]
    }
    why_missing = casework.post(
        f"/v1/obligations/{lines[FAMILY]['obligation_id']}/actions",
        {"done_at": NOW.isoformat(), "outcome": "not_done"},
        FAMILY,
    )
    assert (why_missing.status_code, why_missing.json()["detail"][0]["field"]) == (422, "summary")

    def over_nats(reason: NotDoneReason | None) -> AgencyObligationAction:
        return AgencyObligationAction(
            occurred_at=NOW,
            case_id=case_id,
            correlation_id=case_id,
            obligation_id=uuid.UUID(lines[PSY]["obligation_id"]),
            done_at=NOW,
            person_id="psc-7",
            outcome="not_done",
            reason=reason,
        )

    handlers.on_agency_action(over_nats(None), subject_agency_id=PSY, deps=casework.deps)
    [rejected] = casework.staged(f"qorgau.agency.{PSY}.obligation_action_rejected")
    assert (rejected["problem"], rejected["field"]) == ("invalid", "summary")
    handlers.on_agency_action(
        over_nats(NotDoneReason.FAMILY_REFUSED), subject_agency_id=PSY, deps=casework.deps
    )
    plan = casework.get(f"/v1/plans/{plan_id}", CRR).json()
    line = next(each for each in plan["lines"] if each["line_id"] == psy_line)
    assert (line["status"], line["result"]) == ("not_done", "not done: family_refused")
    assert casework.staged("obligation_fulfilled") == []
    obligation = casework.get(f"/v1/obligations/{lines[PSY]['obligation_id']}", PSY).json()
    assert obligation["status"] == "open"
    assert [each["outcome"] for each in obligation["actions"]] == ["not_done"]
    del family_line


def test_the_school_keeps_its_education_work_plan_guide_p9(casework: Casework) -> None:
    case_id = uuid.uuid4()
    feed(casework, arrived(case_id), opened(case_id, "R4", SCHOOL))
    body = {"kind": "education_work", "period_start": "2026-11-23", "period_end": "2027-05-23"}
    path = f"/v1/cases/{case_id}/plans"
    assert casework.post(path, body, "kz-75-school-99").status_code == 403
    assert casework.post(path, body, POLICE).status_code == 403
    created = casework.post(path, body, SCHOOL)
    assert created.status_code == 201, created.text
    plan_id = created.json()["plan_id"]
    assert casework.post(path, body, SCHOOL).status_code == 409
    line = {
        "kind": "work_with_family",
        "activity": "meetings with the parents",
        "assigned_on": "2026-11-23",
        "due_on": "2026-12-21",
    }
    put = casework.client.put(
        f"/v1/plans/{plan_id}/lines/f1", json=line, headers=casework.auth(SCHOOL)
    )
    assert put.status_code == 200, put.text
    stranger = casework.client.put(
        f"/v1/plans/{plan_id}/lines/f2", json=line, headers=casework.auth(CRR)
    )
    assert stranger.status_code == 403
    approve = f"/v1/plans/{plan_id}/approve"
    assert casework.client.post(approve, json={}, headers=casework.auth(SCHOOL)).status_code == 403
    approved = casework.client.post(approve, json={}, headers=casework.auth(SCHOOL, "head"))
    assert approved.status_code == 200, approved.text
    [event] = casework.staged("plan_approved")
    assert (event["kind"], event["legal_basis"], event["owner_agency_id"]) == (
        "education_work",
        "Guide, p.8.2, p.9",
        SCHOOL,
    )
    # The school's own work: no R20, no obligation opened on anyone.
    assert casework.staged("obligation_opened") == []
    assert casework.staged("obligation_fulfilled") == []
    # The body holding the case reads it whole, as the school does.
    for reader in (SCHOOL, CRR):
        found = casework.get(f"/v1/cases/{case_id}/plan?kind=education_work", reader)
        assert found.status_code == 200 and len(found.json()["versions"]) == 1
