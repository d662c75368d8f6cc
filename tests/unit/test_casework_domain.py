"""Casework's rules: every state change of an obligation, an action and a case, legal and not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.casework import domain
from services.casework.domain import (
    ActionStatus,
    CaseStatus,
    Duty,
    IllegalTransition,
    InvalidInput,
    NotActor,
    ObligationStatus,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SCHOOL = "kz-75-school-12"

R4 = Duty(
    obligation_id="o-r4",
    case_id="c-1",
    code="R4",
    actor_agency_type="education_org",
    actor_agency_id=SCHOOL,
    region="KZ-75",
    target_agency_type=None,
    started_at=NOW - timedelta(hours=2),
    status=ObligationStatus.OPEN,
)


def check(duty: Duty = R4, **overrides: object) -> None:
    arguments: dict[str, object] = {
        "agency_id": SCHOOL,
        "agency_type": "education_org",
        "agency_region": "KZ-75",
        "done_at": NOW - timedelta(hours=1),
        "now": NOW,
        "case_closed": False,
    }
    domain.check_action(duty, **{**arguments, **overrides})  # type: ignore[arg-type]


def test_the_actor_records_an_open_action_between_its_start_and_now() -> None:
    check()
    check(done_at=R4.started_at)
    check(done_at=NOW)


def test_a_done_time_in_the_future_is_refused_naming_done_at() -> None:
    with pytest.raises(InvalidInput) as refused:
        check(done_at=NOW + timedelta(seconds=1))
    assert refused.value.field == "done_at"
    assert "future" in refused.value.message


def test_a_done_time_before_the_obligation_started_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        check(done_at=R4.started_at - timedelta(minutes=1))
    assert refused.value.field == "done_at"
    assert "before the obligation started" in refused.value.message


def test_another_agency_may_not_record_the_duty() -> None:
    with pytest.raises(NotActor):
        check(agency_id="kz-75-police", agency_type="police")


def test_a_duty_owed_by_type_is_recorded_by_an_agency_of_that_type_and_region() -> None:
    by_type = replace(R4, actor_agency_id=None, actor_agency_type="education_authority")
    check(by_type, agency_id="kz-75-education-authority", agency_type="education_authority")
    with pytest.raises(NotActor):
        check(
            by_type,
            agency_id="kz-11-education-authority",
            agency_type="education_authority",
            agency_region="KZ-11",
        )


@pytest.mark.parametrize("status", [ObligationStatus.MET, ObligationStatus.CANCELLED])
def test_a_met_or_cancelled_obligation_takes_no_action(status: ObligationStatus) -> None:
    with pytest.raises(IllegalTransition, match=status.value):
        check(replace(R4, status=status))


def test_a_platform_transfer_is_not_an_action() -> None:
    transfer = replace(R4, code="R6", target_agency_type="minors_commission")
    with pytest.raises(IllegalTransition, match="transfer"):
        check(transfer)


def test_nothing_is_recorded_on_a_closed_case() -> None:
    with pytest.raises(IllegalTransition, match="closed"):
        check(case_closed=True)


@pytest.mark.parametrize(
    ("code", "evidence", "missing"),
    [
        ("R4", {"notice_number": "17"}, "evidence.notice_date"),
        ("R4", {"notice_date": "2026-11-23"}, "evidence.notice_number"),
        ("R9", {}, "evidence.inspection_act_number"),
        ("R17", {}, "evidence.registration_form_number"),
        ("G6", {"notice_number": "5"}, "evidence.notice_date"),
        ("G8", {"court_filing_number": "2-118/26"}, "evidence.court_filing_date"),
        ("R21", {}, "evidence.resolution_number"),
    ],
)
def test_each_row_asks_for_its_proof(code: str, evidence: dict[str, str], missing: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        domain.check_evidence(code, evidence, done_at=NOW)
    assert refused.value.field == missing
    assert domain.EVIDENCE[code].clause in refused.value.message


def test_proof_given_in_full_is_accepted_and_rows_without_a_document_need_none() -> None:
    domain.check_evidence("R4", {"notice_number": "17", "notice_date": "2026-11-23"}, done_at=NOW)
    domain.check_evidence("R17", {"registration_form_number": "ДСМ-175/2026-0042"}, done_at=NOW)
    domain.check_evidence("R10", {}, done_at=NOW)


def test_a_document_dated_badly_or_after_the_work_is_refused() -> None:
    with pytest.raises(InvalidInput, match="ISO"):
        domain.check_evidence(
            "R4", {"notice_number": "1", "notice_date": "23.11.2026"}, done_at=NOW
        )
    with pytest.raises(InvalidInput, match="after done_at"):
        domain.check_evidence(
            "R4", {"notice_number": "1", "notice_date": "2026-11-25"}, done_at=NOW
        )


def test_a_caseworker_drafts_what_the_head_approves_and_records_the_rest_at_once() -> None:
    for code in ("R19", "R20", "R21", "G8"):
        assert domain.action_status(code, by_head=False) is ActionStatus.DRAFT
        assert domain.action_status(code, by_head=True) is ActionStatus.APPROVED
    assert domain.action_status("R4", by_head=False) is ActionStatus.APPROVED
    # A plan line's report is the responsible organisation's own: no head of the body approves it.
    assert domain.action_status("R20", by_head=False, plan_line=True) is ActionStatus.APPROVED


def test_only_a_draft_on_an_open_duty_of_an_open_case_is_approved() -> None:
    domain.check_approval(ActionStatus.DRAFT, R4, case_closed=False)
    with pytest.raises(IllegalTransition, match="draft"):
        domain.check_approval(ActionStatus.APPROVED, R4, case_closed=False)
    with pytest.raises(IllegalTransition, match="closed"):
        domain.check_approval(ActionStatus.DRAFT, R4, case_closed=True)
    with pytest.raises(IllegalTransition, match="met"):
        domain.check_approval(
            ActionStatus.DRAFT, replace(R4, status=ObligationStatus.MET), case_closed=False
        )


def test_a_case_is_closed_once_and_takes_no_manager_after() -> None:
    domain.check_close(CaseStatus.OPEN)
    with pytest.raises(IllegalTransition):
        domain.check_close(CaseStatus.CLOSED)
    domain.check_assignment(CaseStatus.OPEN, current_person=None, person_id="p-1")
    domain.check_assignment(CaseStatus.OPEN, current_person="p-1", person_id="p-2")
    with pytest.raises(IllegalTransition, match="already"):
        domain.check_assignment(CaseStatus.OPEN, current_person="p-1", person_id="p-1")
    with pytest.raises(IllegalTransition, match="closed"):
        domain.check_assignment(CaseStatus.CLOSED, current_person=None, person_id="p-1")


def test_every_closing_ground_cites_its_clause() -> None:
    assert domain.CLOSE_BASIS[domain.CloseGrounds.CAUSES_REMOVED] == "Guide, p.8.10"
    assert set(domain.CLOSE_BASIS) == set(domain.CloseGrounds)


def test_a_case_reaches_the_body_or_the_guardianship_body_standing_in() -> None:
    assert domain.is_body_arrival(
        to_agency_type="child_rights_regional", acting_for=None, purpose="transfer"
    )
    assert domain.is_body_arrival(
        to_agency_type="guardianship", acting_for="child_rights_regional", purpose="transfer"
    )
    assert not domain.is_body_arrival(
        to_agency_type="guardianship", acting_for=None, purpose="transfer"
    )
    assert not domain.is_body_arrival(
        to_agency_type="child_rights_regional", acting_for=None, purpose="plan_line"
    )


def test_a_plan_line_term_ends_on_its_due_date_and_its_id_is_derived() -> None:
    # 2026-11-23 09:00 UTC is 14:00 in Almaty: due 2026-12-07 is 14 calendar days on.
    assert domain.plan_line_term(NOW, date(2026, 12, 7)) == "calendar_days:14"
    assert domain.plan_line_term(NOW, date(2026, 11, 23)) == "calendar_days:1"
    with pytest.raises(InvalidInput) as refused:
        domain.plan_line_term(NOW, date(2026, 11, 22))
    assert refused.value.field == "due_date"
    first = domain.plan_line_obligation_id("c", "l", "a")
    assert first == domain.plan_line_obligation_id("c", "l", "a")
    assert first != domain.plan_line_obligation_id("c", "l", "b")
