"""A plan line reported over NATS by the organisation's system (on its own subject), on real
databases: recorded once, met under the centre's subject; another agency's report changes
nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import Engine

from services.familycentre import handlers
from shared.contracts.familycentre import AgencyPlanLineReport
from tests.integration.familycentre_setup import NOW, POLICE, SOCIAL, Centre, make_centre
from tests.integration.test_familycentre_plans import drafted, needs_determined


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


def approved_plan(centre: Centre) -> str:
    plan_id = drafted(centre, needs_determined(centre))
    centre.put(
        f"/v1/plans/{plan_id}/lines/l1",
        {
            "kind": "state_support",
            "activity": "assistance",
            "assigned_on": "2026-11-23",
            "due_on": "2026-12-07",
            "responsible": SOCIAL,
        },
    )
    for role in ("employee", "person"):
        centre.post(
            f"/v1/plans/{plan_id}/signoffs",
            {"role": role, "signer": "s", "signed_on": "2026-11-23"},
        )
    assert centre.post(f"/v1/plans/{plan_id}/approve", {}, role="head").is_success
    return plan_id


def report(plan_id: str, **extra: object) -> AgencyPlanLineReport:
    return AgencyPlanLineReport(
        occurred_at=NOW,
        correlation_id=uuid.uuid4(),
        plan_id=uuid.UUID(plan_id),
        line_id="l1",
        status="done",
        done_on=date(2026, 11, 23),
        person_id="worker-7",
        **extra,
    )


def test_a_line_reported_over_nats_is_met_once(centre: Centre) -> None:
    plan_id = approved_plan(centre)
    event = report(plan_id)
    handlers.on_agency_line_report(event, subject_agency_id=SOCIAL, deps=centre.deps)
    handlers.on_agency_line_report(event, subject_agency_id=SOCIAL, deps=centre.deps)
    met = [
        e
        for e in centre.staged("obligation_fulfilled")
        if e["code"] == "F5" and e["met_by_agency_id"] == SOCIAL
    ]
    assert len(met) == 1
    line = centre.get(f"/v1/plans/{plan_id}").json()["versions"][0]["lines"][0]
    assert (line["status"], line["done_on"]) == ("done", "2026-11-23")


def test_another_agencys_report_changes_nothing(centre: Centre) -> None:
    plan_id = approved_plan(centre)
    before = centre.staged("")
    handlers.on_agency_line_report(report(plan_id), subject_agency_id=POLICE, deps=centre.deps)
    assert centre.staged("") == before
    line = centre.get(f"/v1/plans/{plan_id}").json()["versions"][0]["lines"][0]
    assert line["status"] == "open"
