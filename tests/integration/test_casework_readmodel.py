"""What casework learns from routing, on real databases: replays, re-routes, order of arrival."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from services.casework import handlers, repository
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled
from shared.contracts.routing import AgencyChanged
from shared.db import unit_of_work
from tests.integration.casework_setup import (
    CRR,
    NOW,
    SCHOOL,
    Casework,
    arrived,
    make_casework,
    opened,
)


@pytest.fixture
def casework(migrated_engine: Callable[[str], Engine]) -> Casework:
    return make_casework(migrated_engine("casework"))


def status(casework: Casework, obligation_id: uuid.UUID) -> str | None:
    with unit_of_work(casework.engine) as session:
        row = repository.get_obligation(session, obligation_id=str(obligation_id))
        return row.status if row else None


def test_a_replayed_opening_or_arrival_adds_nothing(casework: Casework) -> None:
    case_id = uuid.uuid4()
    r4 = opened(case_id, "R4", SCHOOL)
    arrival = arrived(case_id)
    for _ in range(2):
        handlers.on_obligation_opened(r4, deps=casework.deps)
        handlers.on_referral_issued(arrival, deps=casework.deps)
    # The same duty published again under a new event id (a producer's replay) is one duty.
    handlers.on_obligation_opened(
        r4.model_copy(update={"event_id": uuid.uuid4()}), deps=casework.deps
    )
    with unit_of_work(casework.engine) as session:
        assert len(repository.obligations_of_case(session, case_id=str(case_id))) == 1
        assert len(repository.caseload(session, agency_id=CRR, status=None)) == 1
    assert len(casework.staged("case_arrived")) == 1


def test_a_reroute_after_a_decline_moves_the_case_to_the_body_standing_in(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    first = arrived(case_id)
    handlers.on_referral_issued(first, deps=casework.deps)
    # Another referral to another body, not replacing the first: the case stays where it is.
    handlers.on_referral_issued(
        arrived(case_id, to="kz-75-guardianship", acting_for="child_rights_regional"),
        deps=casework.deps,
    )
    with unit_of_work(casework.engine) as session:
        assert repository.get_case(session, case_id=str(case_id)).body_agency_id == CRR  # type: ignore[union-attr]
    rerouted = arrived(
        case_id, to="kz-75-guardianship", acting_for="child_rights_regional"
    ).model_copy(
        update={
            "event_id": uuid.uuid4(),
            "referral_id": uuid.uuid4(),
            "replaces_referral_id": first.referral_id,
        }
    )
    handlers.on_referral_issued(rerouted, deps=casework.deps)
    with unit_of_work(casework.engine) as session:
        case = repository.get_case(session, case_id=str(case_id))
        assert case is not None and case.body_agency_id == "kz-75-guardianship"


def test_a_fulfilment_before_its_opening_is_applied_when_it_opens(casework: Casework) -> None:
    case_id = uuid.uuid4()
    r1 = opened(case_id, "R1", SCHOOL, target_type="police")
    fulfilled = ObligationFulfilled(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        obligation_id=r1.obligation_id,
        code="R1",
        met_at=NOW,
        met_by_platform=True,
    )
    handlers.on_obligation_fulfilled(fulfilled, deps=casework.deps)
    handlers.on_obligation_opened(r1, deps=casework.deps)
    assert status(casework, r1.obligation_id) == "met"


def test_a_duty_routing_withdrew_takes_no_action(casework: Casework) -> None:
    case_id = uuid.uuid4()
    r8 = opened(case_id, "R8", CRR)
    handlers.on_obligation_opened(r8, deps=casework.deps)
    handlers.on_obligation_cancelled(
        ObligationCancelled(
            occurred_at=NOW,
            case_id=case_id,
            correlation_id=case_id,
            producer="routing",
            obligation_id=r8.obligation_id,
            code="R8",
            reason="referral declined: not_competent",
        ),
        deps=casework.deps,
    )
    assert status(casework, r8.obligation_id) == "cancelled"
    refused = casework.post(
        f"/v1/obligations/{r8.obligation_id}/actions", {"done_at": NOW.isoformat()}, CRR, "head"
    )
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]


def test_the_directory_replica_follows_routing_so_a_deactivated_agency_gets_no_line(
    casework: Casework,
) -> None:
    handlers.on_directory_entry(
        AgencyChanged(
            occurred_at=NOW,
            correlation_id=uuid.uuid4(),
            directory_agency_id="kz-75-psych-support-centre",
            agency_type="psych_support_centre",
            region="KZ-75",
            name_kk="ПҚО",
            name_ru="ЦПП",
            name_en="PSC",
            active=False,
        ),
        deps=casework.deps,
    )
    case_id = uuid.uuid4()
    handlers.on_referral_issued(arrived(case_id), deps=casework.deps)
    plan = casework.post(
        f"/v1/cases/{case_id}/plans",
        {"period_start": "2026-11-23", "period_end": "2027-05-23"},
        CRR,
    ).json()
    line = casework.client.put(
        f"/v1/plans/{plan['plan_id']}/lines/l1",
        json={
            "kind": "psychological",
            "activity": "sessions",
            "assigned_on": "2026-11-23",
            "due_on": (NOW + timedelta(days=10)).date().isoformat(),
            "responsible": "kz-75-psych-support-centre",
        },
        headers=casework.auth(CRR),
    )
    assert (line.status_code, line.json()["detail"][0]["field"]) == (422, "lines.l1.responsible")


def test_closing_ends_the_plan_in_force(casework: Casework) -> None:
    from tests.integration.test_casework_api import approved_plan

    case_id = uuid.uuid4()
    handlers.on_referral_issued(arrived(case_id), deps=casework.deps)
    plan_id, _, _ = approved_plan(casework, case_id)
    closed = casework.post(f"/v1/cases/{case_id}/close", {"grounds": "causes_removed"}, CRR, "head")
    assert closed.status_code == 200 and closed.json()["cancelled_obligations"] == 2
    plan = casework.get(f"/v1/plans/{plan_id}", CRR).json()
    assert plan["status"] == "ended" and plan["ending"]["ground"] == "case_closed"
    revise = casework.post(f"/v1/plans/{plan_id}/revisions", {"reason": "more help"}, CRR)
    assert revise.status_code == 409


def test_due_times_from_deadlines_reach_the_work_list_whenever_they_arrive(
    casework: Casework,
) -> None:
    from shared.contracts.deadlines import ObligationBreached, ObligationScheduled

    case_id = uuid.uuid4()
    r4 = opened(case_id, "R4", SCHOOL)
    due = NOW + timedelta(minutes=15)
    common = {
        "occurred_at": NOW,
        "case_id": case_id,
        "correlation_id": case_id,
        "obligation_id": r4.obligation_id,
        "code": "R4",
        "legal_basis": "Rules 38874, p.11.1",
        "actor_agency_type": "education_org",
        "actor_agency_id": SCHOOL,
    }
    # Scheduled before casework heard of the obligation itself (another stream): kept.
    handlers.on_due_time(ObligationScheduled(**common, due_at=due), deps=casework.deps)
    handlers.on_obligation_opened(r4, deps=casework.deps)
    [listed] = casework.get(f"/v1/agencies/{SCHOOL}/obligations", SCHOOL).json()["obligations"]
    assert (listed["due_at"], listed["breached_at"]) == (due.isoformat(), None)
    handlers.on_due_time(
        ObligationBreached(**common, due_at=due, breached_at=due), deps=casework.deps
    )
    [listed] = casework.get(f"/v1/agencies/{SCHOOL}/obligations", SCHOOL).json()["obligations"]
    assert listed["breached_at"] == due.isoformat() and listed["status"] == "open"
    # A scheduling delivered after the breach (another consumer) moves the due time only.
    later = due + timedelta(hours=1)
    handlers.on_due_time(ObligationScheduled(**common, due_at=later), deps=casework.deps)
    [listed] = casework.get(f"/v1/agencies/{SCHOOL}/obligations", SCHOOL).json()["obligations"]
    assert (listed["due_at"], listed["breached_at"]) == (later.isoformat(), due.isoformat())
    # Late is still done: the action is recorded and deadlines judges it late.
    late = casework.post(
        f"/v1/obligations/{r4.obligation_id}/actions",
        {
            "done_at": NOW.isoformat(),
            "evidence": {"notice_number": "3", "notice_date": "2026-11-23"},
        },
        SCHOOL,
    )
    assert late.status_code == 201
