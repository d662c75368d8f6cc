"""The accountability view: a case's obligations and timeline, an agency's list, compliance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from services.deadlines import api
from services.deadlines.handlers import (
    DeadlinesDeps,
    fire_due,
    on_case_event,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from shared import audit
from shared.clock import ALMATY
from shared.contracts.intake import ReportReceived
from shared.contracts.routing import ReferralIssued
from shared.db import unit_of_work
from tests.integration.deadlines_http import bearer, operator_client
from tests.integration.test_deadlines_lifecycle import (
    T0,
    cancelled,
    clock,
    fulfilled,
    make_deps,
    opened,
)


@pytest.fixture
def deps(migrated_engine: Callable[[str], Engine]) -> DeadlinesDeps:
    return make_deps(migrated_engine("deadlines"))


@pytest.fixture
async def client(deps: DeadlinesDeps) -> AsyncIterator[httpx.AsyncClient]:
    async with operator_client(deps) as client:
        yield client


def bus(event: Any) -> dict[str, Any]:
    """An event as a consumer receives it from the bus: JSON."""
    return dict(event.model_dump(mode="json"))


def reported(deps: DeadlinesDeps, case_id: uuid.UUID, *, by: str = "school-17") -> None:
    """Put intake's report of the case on its timeline (deadlines then knows the case)."""
    report = ReportReceived(
        occurred_at=T0 - timedelta(minutes=5),
        case_id=case_id,
        correlation_id=uuid.uuid4(),
        producer="intake",
        report_id=uuid.uuid4(),
        reporter_agency_type="education_org",
        reporter_agency_id=by,
        region="KZ-75",
        channel="duties",
        received_at=T0 - timedelta(minutes=10),
        subject_kind="minor",
        concerns=("violence",),
    )
    assert on_case_event("qorgau.intake.report_received.v1", bus(report), deps=deps)


# --- a case -------------------------------------------------------------------------------


async def test_case_obligations_follow_the_public_contract(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    case_id = uuid.uuid4()
    first = opened(term="hours:1", case_id=case_id)
    none = opened(term="none", code="R16", actor="police", actor_id="kz-75-police", case_id=case_id)
    for event in (none, first):
        on_obligation_opened(event, deps=deps)
    answer = (await client.get(f"/v1/cases/{case_id}/obligations")).json()
    assert answer["case_id"] == str(case_id)
    rows = answer["obligations"]
    # Earliest due first; an obligation with no term last.
    assert [r["code"] for r in rows] == ["R7", "R16"]
    r7 = rows[0]
    for name in (
        "obligation_id",
        "case_id",
        "code",
        "legal_basis",
        "actor_agency_type",
        "actor_agency_id",
        "target_agency_type",
        "started_at",
        "due_at",
        "status",
        "met_at",
    ):
        assert name in r7
    assert r7["started_at"] == "2026-11-20T10:00:00+05:00"
    assert r7["due_at"] == "2026-11-20T11:00:00+05:00"
    assert (r7["status"], r7["met_at"], r7["due_soon"]) == ("open", None, True)
    assert (rows[1]["due_at"], rows[1]["term"], rows[1]["status"]) == (None, "none", "open")


async def test_the_timeline_shows_every_event_in_order(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    case_id, correlation = uuid.uuid4(), uuid.uuid4()
    report = ReportReceived(
        occurred_at=T0 - timedelta(minutes=5),
        case_id=case_id,
        correlation_id=correlation,
        producer="intake",
        report_id=uuid.uuid4(),
        reporter_agency_type="education_org",
        reporter_agency_id="school-17",
        region="KZ-75",
        channel="duties",
        received_at=T0 - timedelta(minutes=10),
        subject_kind="minor",
        concerns=("violence",),
    )
    referral = ReferralIssued(
        occurred_at=T0 - timedelta(minutes=4),
        case_id=case_id,
        correlation_id=correlation,
        causation_id=report.event_id,
        producer="routing",
        referral_id=uuid.uuid4(),
        code="R1",
        legal_basis="Rules 38874, p.8",
        from_agency_type="education_org",
        from_agency_id="school-17",
        to_agency_type="child_rights_regional",
        to_agency_id="kz-75-child-rights-regional",
        region="KZ-75",
        issued_at=T0 - timedelta(minutes=4),
    )
    r7 = opened(term="hours:1", case_id=case_id)
    r8 = opened(term="hours:2", code="R8", case_id=case_id)
    assert on_case_event("qorgau.intake.report_received.v1", bus(report), deps=deps)
    assert on_case_event("qorgau.routing.referral_issued.v1", bus(referral), deps=deps)
    # A replay of the same event is not shown twice.
    assert not on_case_event("qorgau.routing.referral_issued.v1", bus(referral), deps=deps)
    # Events that are not about a case are not shown at all.
    directory = {**bus(referral), "case_id": None, "event_id": str(uuid.uuid4())}
    assert not on_case_event("qorgau.routing.agency_changed.v1", directory, deps=deps)
    for event in (r7, r8):
        on_case_event("qorgau.routing.obligation_opened.v1", bus(event), deps=deps)
        on_obligation_opened(event, deps=deps)
    clock(deps).set(T0 + timedelta(minutes=30))
    late = fulfilled(r7, met_at=T0 + timedelta(minutes=30))
    on_case_event("qorgau.routing.obligation_fulfilled.v1", bus(late), deps=deps)
    on_obligation_fulfilled(late, deps=deps)
    clock(deps).set(T0 + timedelta(hours=2))
    fire_due(deps=deps)

    events = (await client.get(f"/v1/cases/{case_id}/timeline")).json()["events"]
    names = [e["event"] for e in events]
    assert names[:3] == [
        "intake.report_received",
        "routing.referral_issued",
        "routing.obligation_opened",
    ]
    assert names.count("deadlines.obligation_scheduled") == 3  # R7, R8 and R8's escalation
    assert names[-3:] == [
        "deadlines.obligation_breached",
        "deadlines.obligation_escalated",
        "deadlines.obligation_scheduled",
    ]
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times, key=datetime.fromisoformat)

    first = events[0]
    assert (first["agency_id"], first["agency_type"]) == ("school-17", "education_org")
    issued = events[1]
    assert issued["target_agency_id"] == "kz-75-child-rights-regional"
    assert issued["code"] == "R1"
    fulfilment = next(e for e in events if e["event"] == "routing.obligation_fulfilled")
    assert fulfilment["obligation_id"] == str(r7.obligation_id)
    assert fulfilment["agency_id"] == "kz-75-child-rights-regional"
    assert fulfilment["on_time"] is True
    met = next(e for e in events if e["event"] == "deadlines.obligation_met")
    assert (met["on_time"], met["obligation_status"]) == (True, "met")
    breach = next(e for e in events if e["event"] == "deadlines.obligation_breached")
    assert breach["obligation_id"] == str(r8.obligation_id)
    assert (breach["on_time"], breach["code"], breach["agency_type"]) == (
        False,
        "R8",
        "child_rights_regional",
    )
    escalation = next(e for e in events if e["event"] == "deadlines.obligation_escalated")
    assert escalation["agency_type"] == "child_rights_national"
    assert escalation["target_agency_id"] == "kz-75-child-rights-regional"
    # The step of the ladder names its clause.
    assert escalation["legal_basis"] == "Rules 38874, p.12.1, p.32"
    # Only ids, codes and clauses: nothing else is kept.
    assert set(first) == {
        "event_id",
        "event",
        "occurred_at",
        "agency_id",
        "agency_type",
        "target_agency_id",
        "target_agency_type",
        "obligation_id",
        "code",
        "obligation_status",
        "on_time",
        "legal_basis",
    }


# --- an agency ------------------------------------------------------------------------------


async def test_an_agency_lists_its_obligations_by_status(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    police = {"actor": "police", "actor_id": "kz-75-police"}
    breached = opened(term="hours:1", code="G3", **police)
    soon = opened(term="hours:3", code="R16", **police)
    later = opened(term="working_days:3", code="R21", **police)
    done = opened(term="hours:1", code="G7", **police)
    other = opened(term="hours:1")
    for event in (breached, soon, later, done, other):
        on_obligation_opened(event, deps=deps)
    on_obligation_fulfilled(fulfilled(done, met_at=T0, by="kz-75-police"), deps=deps)
    clock(deps).set(T0 + timedelta(hours=2, minutes=10))
    fire_due(deps=deps)

    async def codes(status: str | None = None) -> list[str]:
        params = {"status": status} if status else {}
        answer = await client.get("/v1/agencies/kz-75-police/obligations", params=params)
        assert answer.status_code == 200, answer.text
        return [o["code"] for o in answer.json()["obligations"]]

    assert await codes() == ["G3", "G7", "R16", "R21"]
    assert await codes("open") == ["R16", "R21"]
    assert await codes("breached") == ["G3"]
    assert await codes("due_soon") == ["R16"]
    assert await codes("met") == ["G7"]
    answer = await client.get("/v1/agencies/kz-75-police/obligations?status=late&limit=0")
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["detail"]] == ["status", "limit"]


# --- compliance -----------------------------------------------------------------------------


async def test_compliance_per_agency(deps: DeadlinesDeps, client: httpx.AsyncClient) -> None:
    regional = {"actor": "child_rights_regional", "actor_id": "kz-75-child-rights-regional"}
    police = {"actor": "police", "actor_id": "kz-75-police"}
    on_time = opened(term="hours:1", **regional)
    late_1h = opened(term="hours:1", **regional)
    late_3h = opened(term="hours:1", **regional)
    unmet = opened(term="hours:1", **regional)
    withdrawn = opened(term="hours:1", **regional)
    astana = opened(term="hours:1", region="KZ-71", actor="police", actor_id="kz-71-police")
    police_ok = opened(term="hours:1", **police)
    for event in (on_time, late_1h, late_3h, unmet, withdrawn, astana, police_ok):
        on_obligation_opened(event, deps=deps)
    due = T0 + timedelta(hours=1)
    on_obligation_fulfilled(fulfilled(on_time, met_at=due - timedelta(minutes=1)), deps=deps)
    on_obligation_fulfilled(fulfilled(police_ok, met_at=due, by="kz-75-police"), deps=deps)
    on_obligation_cancelled(cancelled(withdrawn, reason="joined", at=T0), deps=deps)
    clock(deps).set(due)
    fire_due(deps=deps)
    on_obligation_fulfilled(fulfilled(late_1h, met_at=due + timedelta(hours=1)), deps=deps)
    on_obligation_fulfilled(fulfilled(late_3h, met_at=due + timedelta(hours=3)), deps=deps)
    clock(deps).set(due + timedelta(hours=5))

    answer = await client.get("/v1/compliance", params={"region": "KZ-75"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["basis"] == "due_at"
    by_agency = {a["agency_id"]: a for a in body["agencies"]}
    # The escalations opened by the breaches are the national body's, with no agency id yet.
    assert set(by_agency) == {None, "kz-75-child-rights-regional", "kz-75-police"}
    regional_figures = by_agency["kz-75-child-rights-regional"]
    assert regional_figures["obligations"] == 4
    assert (regional_figures["met_on_time"], regional_figures["late"]) == (1, 3)
    assert regional_figures["on_time_percent"] == 25.0
    # Late by 1 h, 3 h and (still unmet) 5 h.
    assert regional_figures["median_lateness_seconds"] == 3 * 3600
    assert regional_figures["p90_lateness_seconds"] == pytest.approx(4.6 * 3600)
    assert regional_figures["open_breaches"] == 1
    assert by_agency["kz-75-police"]["on_time_percent"] == 100.0

    only_police = await client.get("/v1/compliance", params={"agency_type": "police"})
    regions = sorted(a["region"] for a in only_police.json()["agencies"])
    assert regions == ["KZ-71", "KZ-75"]
    window = await client.get(
        "/v1/compliance", params={"region": "KZ-75", "from": "2026-11-21", "to": "2026-11-30"}
    )
    # Every term here ran out on 20 November (the escalations on the 24th: one working day).
    assert [a["agency_type"] for a in window.json()["agencies"]] == ["child_rights_national"]
    assert window.json()["from"] == "2026-11-21T00:00:00+05:00"
    assert window.json()["to"] == "2026-12-01T00:00:00+05:00"


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"region": "KZ-99"}, ["region"]),
        ({"agency_type": "school"}, ["agency_type"]),
        ({"from": "20.11.2026"}, ["from"]),
        ({"to": "2026-11-20T10:00:00"}, ["to"]),
        ({"from": "2026-11-30", "to": "2026-11-01"}, ["to"]),
        ({"region": "Almaty", "agency_type": "x", "from": "y"}, ["region", "agency_type", "from"]),
    ],
    ids=["region", "agency-type", "from", "naive-to", "to-before-from", "several"],
)
async def test_bad_compliance_filters_are_named(
    client: httpx.AsyncClient, params: dict[str, str], fields: list[str]
) -> None:
    answer = await client.get("/v1/compliance", params=params)
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["detail"]] == fields


def test_times_answer_in_almaty() -> None:
    assert api._time(datetime(2026, 11, 20, 5, 0, tzinfo=ALMATY)) == "2026-11-20T05:00:00+05:00"


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agency_id", "agency_type", "role", "path", "status"),
    [
        ("kz-75-police", "police", "caseworker", "/v1/cases/{case}/obligations", 200),
        ("kz-75-police", "police", "caseworker", "/v1/cases/{case}/timeline", 200),
        ("kz-71-police", "police", "caseworker", "/v1/cases/{case}/obligations", 403),
        ("kz-71-police", "police", "caseworker", "/v1/cases/{case}/timeline", 403),
        ("kz-75-police", "police", "caseworker", "/v1/agencies/kz-75-police/obligations", 200),
        ("kz-71-police", "police", "head", "/v1/agencies/kz-75-police/obligations", 403),
        ("kz-75-police", "police", "head", "/v1/compliance", 403),
        ("kz-75-police", "police", "caseworker", "/v1/calendar/overrides", 200),
    ],
    ids=[
        "actor-reads-case",
        "actor-reads-timeline",
        "stranger-case",
        "stranger-timeline",
        "own-obligations",
        "another-agency-obligations",
        "compliance-needs-operator",
        "calendar-readable",
    ],
)
async def test_who_is_let_in_and_who_is_refused(
    deps: DeadlinesDeps,
    client: httpx.AsyncClient,
    agency_id: str,
    agency_type: str,
    role: str,
    path: str,
    status: int,
) -> None:
    case_id = uuid.uuid4()
    reported(deps, case_id)
    on_obligation_opened(
        opened(term="none", code="R16", actor="police", actor_id="kz-75-police", case_id=case_id),
        deps=deps,
    )
    answer = await client.get(
        path.format(case=case_id), headers=bearer(deps, agency_id, agency_type, role)
    )
    assert answer.status_code == status, answer.text
    with unit_of_work(deps.engine) as session:
        refused = [
            e.agency_id
            for e in audit.entries(session, case_id=str(case_id))
            if e.outcome == audit.REFUSED
        ]
    # A refusal on a case is recorded in deadlines' audit log under that case.
    assert refused == ([agency_id] if status == 403 and "{case}" in path else [])


async def test_no_route_answers_without_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/v1/cases/x/obligations", "/v1/compliance", "/v1/calendar/overrides"):
        assert (await client.get(path, headers={"Authorization": ""})).status_code == 401


async def test_only_an_operator_changes_the_calendar(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    head = bearer(deps, "kz-75-police", "police", "head")
    answer = await client.post(
        "/v1/calendar/overrides", json={"days_off": ["2026-12-31"]}, headers=head
    )
    assert answer.status_code == 403
    assert (await client.get("/v1/calendar/overrides")).json()["days_off"] == []


async def test_obligations_before_the_report_refuse_nobody_and_show_strangers_nothing(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    # The obligation consumer may run ahead of the timeline's: a case known only by an
    # obligation on someone else is not yet known, so its reporter is not refused.
    case_id = uuid.uuid4()
    on_obligation_opened(
        opened(term="none", code="R16", actor="police", actor_id="kz-75-police", case_id=case_id),
        deps=deps,
    )
    path = f"/v1/cases/{case_id}/obligations"
    school = bearer(deps, "school-17", "education_org", "caseworker")
    stranger = bearer(deps, "kz-71-police", "police", "caseworker")
    early = [await client.get(path, headers=who) for who in (school, stranger)]
    assert [(a.status_code, a.json()["obligations"]) for a in early] == [(200, []), (200, [])]
    reported(deps, case_id)
    assert (await client.get(path, headers=school)).status_code == 200
    assert (await client.get(path, headers=stranger)).status_code == 403
