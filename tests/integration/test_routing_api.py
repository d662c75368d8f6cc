"""Routing's HTTP API on real databases: directory, answers, read side, refusals by field."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from services.routing import api, handlers
from shared import audit, auth
from shared.access import Gatekeeper
from shared.db import unit_of_work
from shared.runtime import field_errors
from tests.integration.test_routing_handlers import (
    CRR,
    GUARDIANSHIP,
    NOW,
    POLICE,
    PROSECUTOR,
    Routing,
    make_routing,
    report,
)

with warnings.catch_warnings():
    # Starlette's notice that its TestClient moves to another package: not ours to act on.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def routing(migrated_engine: Callable[[str], Engine]) -> Routing:
    return make_routing(migrated_engine("routing"))


KEYS = auth.TokenKeys.generate()
AUDIT_KEY = b"routing-audit-test-key-000000000"
AGENCY_TYPES = {
    POLICE: "police",
    CRR: "child_rights_regional",
    GUARDIANSHIP: "guardianship",
    PROSECUTOR: "prosecutor",
    "school-17": "education_org",
    "kz-71-police": "police",
}


def bearer(agency_id: str, role: str = "head", routing: Routing | None = None) -> dict[str, str]:
    """The Authorization header of a person of an agency."""
    now = routing.clock.now() if routing is not None else NOW
    token = KEYS.issue(
        agency_id=agency_id,
        agency_type=AGENCY_TYPES[agency_id],
        region="KZ-71" if agency_id == "kz-71-police" else "KZ-75",
        role=role,
        subject=f"person-of-{agency_id}",
        now=now,
    )
    return {"Authorization": f"Bearer {token}"}


OPERATOR = {
    "Authorization": "Bearer "
    + KEYS.issue(
        agency_id="kz-child-rights-national",
        agency_type="child_rights_national",
        region=None,
        role="operator",
        subject="operator-1",
        now=NOW,
    )
}


@pytest.fixture
def client(routing: Routing) -> Iterator[TestClient]:
    app = FastAPI()

    # As shared.runtime's http_app answers: one message per bad field.
    @app.exception_handler(RequestValidationError)
    async def by_field(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(error.errors())}, status_code=422)

    gate = Gatekeeper(routing.engine, AUDIT_KEY, routing.clock)
    app.include_router(api.router(routing.deps, gate=gate))
    auth.install(app, auth.TokenVerifier(KEYS, routing.clock))
    with TestClient(app, headers=OPERATOR) as test_client:
        yield test_client


def fields(answer: Any) -> list[str]:
    return sorted(p["field"] for p in answer.json()["detail"])


AGENCY = {
    "agency_id": "kz-75-police-medeu",
    "agency_type": "police",
    "region": "KZ-75",
    "district": "Medeu",
    "name_kk": "Медеу ауданының полиция басқармасы",
    "name_ru": "Управление полиции Медеуского района",
    "name_en": "Police department, Medeu district",
}


def test_the_directory_is_kept_over_http(client: TestClient, routing: Routing) -> None:
    created = client.post("/v1/agencies", json=AGENCY)
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True
    assert client.post("/v1/agencies", json=AGENCY).status_code == 409

    listed = client.get("/v1/agencies", params={"region": "KZ-75", "type": "police"}).json()
    assert [a["agency_id"] for a in listed["agencies"]] == [POLICE, "kz-75-police-medeu"]

    changed = client.put("/v1/agencies/kz-75-police-medeu", json={"active": False})
    assert changed.status_code == 200 and changed.json()["active"] is False
    active = client.get("/v1/agencies", params={"type": "police", "active": True}).json()
    assert "kz-75-police-medeu" not in {a["agency_id"] for a in active["agencies"]}
    assert client.get("/v1/agencies/kz-75-police-medeu").json()["district"] == "Medeu"
    assert client.get("/v1/agencies/nobody").status_code == 404
    assert client.put("/v1/agencies/nobody", json={"active": False}).status_code == 404
    events = [m["subject"] for m in routing.outbox(prefix="qorgau.routing.agency_")]
    assert events == ["qorgau.routing.agency_registered.v1", "qorgau.routing.agency_changed.v1"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**AGENCY, "agency_type": "school"}, "agency_type"),
        ({**AGENCY, "region": "KZ-99"}, "region"),
        ({**AGENCY, "agency_id": "Police 1"}, "agency_id"),
        ({**AGENCY, "region": None}, "region"),
        ({**AGENCY, "agency_type": "ombudsman_national"}, "region"),
        ({**AGENCY, "name_en": ""}, "name_en"),
    ],
    ids=[
        "unknown-type",
        "unknown-region",
        "bad-id",
        "regional-without-region",
        "national-with-region",
        "empty-name",
    ],
)
def test_a_bad_agency_is_refused_by_field_and_changes_nothing(
    client: TestClient, routing: Routing, body: dict[str, Any], field: str
) -> None:
    answer = client.post("/v1/agencies", json=body)
    assert answer.status_code == 422, answer.text
    assert fields(answer) == [field]
    assert client.get("/v1/agencies/kz-75-police-medeu").status_code == 404
    assert routing.outbox(prefix="qorgau.routing.agency_") == []


def test_national_bodies_stay_one_per_country(client: TestClient) -> None:
    second = {
        **AGENCY,
        "agency_id": "kz-ombudsman-2",
        "agency_type": "ombudsman_national",
        "region": None,
    }
    assert client.post("/v1/agencies", json=second).status_code == 409
    assert client.post("/v1/agencies", json={**second, "active": False}).status_code == 201
    assert client.put("/v1/agencies/kz-ombudsman-2", json={"active": True}).status_code == 409


def test_referrals_are_answered_over_http(client: TestClient, routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    case = client.get(f"/v1/cases/{event.case_id}/referrals").json()
    by_target = {(r["code"], r["to_agency_id"]): r for r in case["referrals"]}
    police = by_target[("R1", POLICE)]
    crr = by_target[("R1", CRR)]
    inbox = client.get(f"/v1/agencies/{POLICE}/inbox").json()["referrals"]
    assert [r["referral_id"] for r in inbox] == [police["referral_id"]]

    url = f"/v1/referrals/{police['referral_id']}"
    crr_head = bearer(CRR)
    police_head = bearer(POLICE, routing=routing)
    assert client.post(f"{url}/acknowledge", json={}, headers=crr_head).status_code == 403
    missing = client.post("/v1/referrals/nope/acknowledge", json={}, headers=crr_head)
    assert missing.status_code == 404
    # A body naming another agency than the token's is refused.
    claimed = client.post(f"{url}/acknowledge", json={"agency_id": POLICE}, headers=crr_head)
    assert claimed.status_code == 403
    assert fields(client.post(f"{url}/acknowledge", json={"agency_id": "Bad Id"})) == ["agency_id"]
    routing.clock.advance(timedelta(minutes=7))
    police_head = bearer(POLICE, routing=routing)
    done = client.post(f"{url}/acknowledge", json={}, headers=police_head)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["answered_via"]) == ("acknowledged", "http")
    assert client.post(f"{url}/acknowledge", json={}, headers=police_head).status_code == 409
    assert client.get(f"/v1/agencies/{POLICE}/inbox").json()["referrals"] == []

    crr_url = f"/v1/referrals/{crr['referral_id']}/decline"
    crr_head = bearer(CRR, routing=routing)
    assert fields(client.post(crr_url, json={}, headers=crr_head)) == ["reason"]
    assert fields(client.post(crr_url, json={"reason": "busy"}, headers=crr_head)) == ["reason"]
    # Declining is the head's decision; a caseworker is refused.
    caseworker = bearer(CRR, role="caseworker", routing=routing)
    drafted = client.post(crr_url, json={"reason": "not_competent"}, headers=caseworker)
    assert drafted.status_code == 403
    declined = client.post(crr_url, json={"reason": "not_competent"}, headers=crr_head)
    assert declined.status_code == 200, declined.text
    # The region has its child-rights body: the decline goes up, not to the guardianship body.
    assert declined.json()["declined"]["status"] == "escalated"
    replacement = declined.json()["replacement"]
    assert (replacement["to_agency_id"], replacement["purpose"]) == (
        "kz-child-rights-national",
        "escalation",
    )
    assert client.post(crr_url, json={"reason": "other"}, headers=crr_head).status_code == 409
    one = client.get(f"/v1/referrals/{replacement['referral_id']}").json()
    assert one["replaces_referral_id"] == crr["referral_id"]
    assert replacement["referral_id"] in {
        r["referral_id"]
        for r in client.get("/v1/agencies/kz-child-rights-national/inbox").json()["referrals"]
    }
    obligations = client.get(f"/v1/cases/{event.case_id}/routing-obligations").json()
    assert not {
        o["code"] for o in obligations["obligations"] if o["actor_agency_id"] == GUARDIANSHIP
    } & {"R8", "R19"}


def test_the_last_resort_cannot_decline(client: TestClient, routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    referrals = client.get(f"/v1/cases/{event.case_id}/referrals").json()["referrals"]
    police = next(r for r in referrals if r["to_agency_id"] == POLICE and r["code"] == "R1")
    escalated = client.post(
        f"/v1/referrals/{police['referral_id']}/decline",
        json={"reason": "not_competent"},
        headers=bearer(POLICE, routing=routing),
    ).json()
    assert escalated["declined"]["status"] == "escalated"
    assert escalated["replacement"]["to_agency_id"] == PROSECUTOR
    refused = client.post(
        f"/v1/referrals/{escalated['replacement']['referral_id']}/decline",
        json={"reason": "not_competent"},
        headers=bearer(PROSECUTOR, routing=routing),
    )
    assert refused.status_code == 409
    assert "no agency is left" in refused.json()["detail"]


def test_an_agency_makes_the_transfer_it_had_to_judge(client: TestClient, routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    obligations = client.get(f"/v1/cases/{event.case_id}/routing-obligations").json()
    g2 = next(o for o in obligations["obligations"] if o["code"] == "G2")
    assert (g2["actor_agency_id"], g2["target_agency_type"], g2["status"]) == (
        "school-17",
        "local_executive",
        "open",
    )
    url = f"/v1/obligations/{g2['obligation_id']}/refer"
    school = bearer("school-17", routing=routing)
    assert client.post(url, json={}, headers=bearer(POLICE, routing=routing)).status_code == 403
    made = client.post(url, json={}, headers=school)
    assert made.status_code == 201, made.text
    assert (made.json()["to_agency_id"], made.json()["code"]) == ("kz-75-local-executive", "G2")
    assert client.post(url, json={}, headers=school).status_code == 409
    assert client.post("/v1/obligations/nope/refer", json={}, headers=school).status_code == 404


def test_every_route_needs_a_token(client: TestClient, routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    no_token = {"Authorization": ""}
    for path in (
        f"/v1/cases/{event.case_id}/referrals",
        f"/v1/agencies/{POLICE}/inbox",
        "/v1/agencies",
    ):
        assert client.get(path, headers=no_token).status_code == 401


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (POLICE, "/v1/cases/{case}/referrals", 200),
        ("school-17", "/v1/cases/{case}/referrals", 200),
        ("kz-71-police", "/v1/cases/{case}/referrals", 403),
        ("kz-71-police", "/v1/cases/{case}/routing-obligations", 403),
        (POLICE, "/v1/agencies/kz-75-police/inbox", 200),
        (CRR, "/v1/agencies/kz-75-police/inbox", 403),
        (POLICE, "/v1/agencies", 200),
    ],
    ids=[
        "police-with-referral",
        "reporter",
        "police-of-another-region",
        "obligations-of-another-region",
        "own-inbox",
        "another-agency-inbox",
        "directory",
    ],
)
def test_who_is_let_in_and_who_is_refused(
    client: TestClient, routing: Routing, who: str, path: str, status: int
) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    answer = client.get(path.format(case=event.case_id), headers=bearer(who, routing=routing))
    assert answer.status_code == status, answer.text
    with unit_of_work(routing.engine) as session:
        entries = audit.entries(session, case_id=str(event.case_id))
        recorded = [e.agency_id for e in entries if e.outcome == audit.REFUSED]
    # A refusal on a case is recorded in the audit log under that case.
    if status == 403 and "{case}" in path:
        assert recorded == [who]
    else:
        assert recorded == []


def test_only_an_operator_changes_the_directory(client: TestClient) -> None:
    refused = client.post("/v1/agencies", json=AGENCY, headers=bearer(POLICE))
    assert refused.status_code == 403
    assert client.get("/v1/agencies/kz-75-police-medeu").status_code == 404


def test_answering_anothers_referral_is_refused_on_record(
    client: TestClient, routing: Routing
) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    referrals = client.get(f"/v1/cases/{event.case_id}/referrals").json()["referrals"]
    police = next(r for r in referrals if r["to_agency_id"] == POLICE and r["code"] == "R1")
    url = f"/v1/referrals/{police['referral_id']}"
    crr = bearer(CRR, routing=routing)
    assert client.post(f"{url}/acknowledge", json={}, headers=crr).status_code == 403
    declined = client.post(f"{url}/decline", json={"reason": "not_competent"}, headers=crr)
    assert declined.status_code == 403
    with unit_of_work(routing.engine) as session:
        refused = [
            (entry.agency_id, entry.action)
            for entry in audit.entries(session, case_id=str(event.case_id))
            if entry.outcome == audit.REFUSED
        ]
    assert refused == [(CRR, "referral.acknowledge"), (CRR, "referral.decline")]
