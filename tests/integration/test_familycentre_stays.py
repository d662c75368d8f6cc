"""Stays at the family centre on real databases: rooms with their places, an extension within the
month and none past it (p.6.4, p.23.5), the children reported to a real intake in process (p.26,
minors who witnessed violence), and the support measures of p.23."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from services.familycentre import handlers
from services.familycentre.app import REPORT_TOKEN_TTL
from services.familycentre.handlers.reports import MAX_ATTEMPTS
from services.familycentre.tables import IntakeReport, Room, Stay, SupportMeasure
from services.intake import app as intake_app
from services.intake.config import IntakeSettings
from shared import audit
from shared.auth import Role, TokenKeys
from tests.integration.familycentre_setup import NOW, SOCIAL, Centre, make_centre

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMITTED = (NOW - timedelta(hours=1)).isoformat()
PERSON = {"full_name": "Айгүл Серікова", "iin": "900101400013"}
CHILDREN = [
    {"full_name": "Ерлан Серіков", "birth_date": "2017-03-01"},
    {"full_name": "Ару Серікова", "birth_date": "2020-05-05"},
]


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


class Intake:
    """Intake's app in process on its own SQLite database, as the centre calls it over HTTP."""

    def __init__(self, tmp_path: Path) -> None:
        settings = IntakeSettings(
            var_dir=tmp_path / "intake",
            database_url=f"sqlite:///{tmp_path / 'intake.db'}",
            nats_url="nats://127.0.0.1:1",
            token_key_file=tmp_path / "keys" / "token.key",
        )
        self.runtime, app = intake_app.build(settings)
        self.keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
        self.client = TestClient(app)
        self.posts = 0

    def post(self, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        self.posts += 1
        answer = self.client.post(
            "/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return answer.status_code, answer.json() if answer.status_code == 201 else {}

    def read_case(self, case_id: str, token: str) -> tuple[int, dict[str, Any]]:
        answer = self.client.get(
            f"/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
        )
        return answer.status_code, answer.json() if answer.status_code == 200 else {}

    def token_for(self, stay: Stay) -> str:
        """The centre's own token, as the composition root issues it with the deployment key."""
        return self.keys.issue(
            agency_id=stay.centre_agency_id,
            agency_type="family_support_centre",
            region=stay.region,
            role=Role.CASEWORKER,
            subject="familycentre-service",
            now=datetime.now(UTC),
            ttl=REPORT_TOKEN_TTL,
        )

    def operator_case(self, case_id: str) -> dict[str, Any]:
        token = self.keys.issue(
            agency_id="kz-child-rights-national",
            agency_type="child_rights_national",
            region=None,
            role=Role.OPERATOR,
            subject="operator",
            now=datetime.now(UTC),
        )
        answer = self.client.get(
            f"/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    found = Intake(tmp_path)
    yield found
    found.runtime.tracer_provider.shutdown()
    found.runtime.engine.dispose()


def declare(centre: Centre, room: str, capacity: int) -> Any:
    return centre.put(f"/v1/rooms/{room}", {"capacity": capacity}, role="head")


def admit(centre: Centre, room: str = "1", children: list[dict[str, Any]] | None = None) -> Any:
    return centre.post(
        "/v1/stays",
        {
            "basis": "personal_application",
            "room": room,
            "admitted_at": ADMITTED,
            "until": (NOW + timedelta(days=10)).date().isoformat(),
            "person": PERSON,
            "children": CHILDREN if children is None else children,
        },
    )


def test_rooms_are_declared_by_the_head_and_an_admission_fits_its_places(centre: Centre) -> None:
    assert centre.put("/v1/rooms/1", {"capacity": 3}).status_code == 403
    assert declare(centre, "1", 0).status_code == 422
    undeclared = admit(centre, "9")
    assert (undeclared.status_code, undeclared.json()["detail"][0]["field"]) == (422, "room")
    assert declare(centre, "1", 3).status_code == 200
    assert admit(centre).status_code == 201
    # The person and two children fill the room: nobody else fits, and nothing is recorded.
    full = admit(centre, children=[])
    assert full.status_code == 409 and "3 places" in full.json()["detail"]
    with Session(centre.engine) as session:
        assert len(session.exec(select(Stay)).all()) == 1
    # Fewer places than the people staying now is refused too.
    assert declare(centre, "1", 2).status_code == 409
    with Session(centre.engine) as session:
        assert session.exec(select(Room)).one().capacity == 3
    assert centre.get("/v1/rooms").json()["rooms"] == [
        {"room": "1", "capacity": 3, "occupied": 3, "free": 0}
    ]
    figures = centre.get("/v1/figures").json()
    assert (figures["occupancy_by_room"], figures["capacity_by_room"]) == ({"1": 3}, {"1": 3})
    assert centre.get("/v1/rooms", agency_id=SOCIAL).status_code == 403
    with Session(centre.engine) as session:
        rows = session.exec(select(audit.AuditEntry)).all()
        refused = [e for e in rows if e.action == "room.read"]
        assert [(e.agency_id, e.outcome) for e in refused] == [(SOCIAL, audit.REFUSED)]


def test_a_stay_is_extended_within_its_month_and_never_past_it(centre: Centre) -> None:
    declare(centre, "1", 4)
    stay = admit(centre).json()
    path = f"/v1/stays/{stay['stay_id']}/extend"
    # Admitted 2026-11-23 (Almaty): the month runs to 2026-12-23.
    longer = centre.post(path, {"until": "2026-12-23"})
    assert (longer.status_code, longer.json()["until"]) == (200, "2026-12-23")
    past = centre.post(path, {"until": "2026-12-24"})
    assert past.status_code == 422
    [problem] = past.json()["detail"]
    assert problem["field"] == "until" and "p.6.4, p.23.5" in problem["message"]
    shorter = centre.post(path, {"until": "2026-12-01"})
    assert (shorter.status_code, shorter.json()["detail"][0]["field"]) == (422, "until")
    with Session(centre.engine) as session:
        assert str(session.exec(select(Stay)).one().until) == "2026-12-23"
    centre.post(f"/v1/stays/{stay['stay_id']}/leave", {"left_at": NOW.isoformat()})
    assert centre.post(path, {"until": "2026-12-23"}).status_code == 409


def test_the_children_are_reported_to_intake_and_their_case_ids_recorded(
    centre: Centre, intake: Intake
) -> None:
    declare(centre, "1", 4)
    # Two children named, one the centre knows nothing of yet (counted, not described).
    stay = admit(centre, children=[*CHILDREN, {}]).json()
    assert (stay["intake_case_id"], stay["child_case_ids"]) == (None, None)
    with Session(centre.engine) as session:
        [owed] = session.exec(select(IntakeReport)).all()
        # What intake is told stays encrypted in the centre's table.
        assert "Ерлан" not in owed.payload and "900101400013" not in owed.payload
    run = dict(post=intake.post, read_case=intake.read_case, token_for=intake.token_for)
    assert handlers.send_pending(centre.deps, **run) == 0  # taken; the children's ids next
    assert handlers.send_pending(centre.deps, **run) == 1
    assert handlers.send_pending(centre.deps, **run) == 0  # nothing is sent twice
    assert intake.posts == 1
    read = centre.get(f"/v1/stays/{stay['stay_id']}").json()
    adult = intake.operator_case(read["intake_case_id"])
    children = [
        c["case_id"] for c in adult["linked_cases"] if c["relation"] == "accompanying_child"
    ]
    assert len(children) == 3 and sorted(read["child_case_ids"]) == sorted(children)
    [reported] = adult["reports"]
    assert reported["reporter_agency_type"] == "family_support_centre"
    for child in children:
        case = intake.operator_case(child)
        assert case["subject_kind"] == "minor"
        assert case["reports"][0]["concerns"] == ["witnessed_violence"]


def test_a_stay_without_children_owes_intake_nothing(centre: Centre) -> None:
    declare(centre, "1", 1)
    assert admit(centre, children=[]).status_code == 201
    with Session(centre.engine) as session:
        assert session.exec(select(IntakeReport)).all() == []


def test_intake_away_keeps_the_report_and_a_refusing_intake_is_tried_a_few_times(
    centre: Centre,
) -> None:
    declare(centre, "1", 4)
    admit(centre)

    def away(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        raise ConnectionError("intake is down")

    def refuses(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        return 422, {}

    def never(case_id: str, token: str) -> tuple[int, dict[str, Any]]:
        raise AssertionError("nothing was taken to read back")

    for _ in range(3):
        assert (
            handlers.send_pending(centre.deps, post=away, read_case=never, token_for=lambda s: "t")
            == 0
        )
    with Session(centre.engine) as session:
        report = session.exec(select(IntakeReport)).one()
        assert (report.sent_at, report.attempts) == (None, 0)
        assert report.last_error == "intake unreachable: ConnectionError"
    for _ in range(MAX_ATTEMPTS + 2):
        handlers.send_pending(centre.deps, post=refuses, read_case=never, token_for=lambda s: "t")
    with Session(centre.engine) as session:
        report = session.exec(select(IntakeReport)).one()
        assert (report.sent_at, report.attempts) == (None, MAX_ATTEMPTS)


def test_support_measures_of_p23_are_recorded_on_a_domestic_violence_appeal(
    centre: Centre,
) -> None:
    base = {
        "channel": "contact_centre_111",
        "received_at": (NOW - timedelta(hours=2)).isoformat(),
        "person": PERSON,
    }
    other = centre.post("/v1/appeals", base).json()
    appeal = centre.post("/v1/appeals", {**base, "domestic_violence": True}).json()
    path = f"/v1/appeals/{appeal['appeal_id']}/support-measures"
    body = {"kind": "legal", "provided_on": "2026-11-23", "note": "Неке бұзу туралы кеңес"}
    refused = centre.post(f"/v1/appeals/{other['appeal_id']}/support-measures", body)
    assert refused.status_code == 409
    assert centre.post(path, {**body, "kind": "shelter"}).status_code == 422
    early = centre.post(path, {**body, "provided_on": "2026-11-20"})
    assert early.json()["detail"][0]["field"] == "provided_on"
    done = centre.post(path, body)
    assert done.status_code == 201, done.text
    assert done.json()["legal_basis"] == "Family Centre Rules 34499, p.23.1"
    job = centre.post(path, {"kind": "employment", "provided_on": "2026-11-23"})
    assert job.json()["legal_basis"] == "Family Centre Rules 34499, p.23.2"
    shown = centre.get(f"/v1/appeals/{appeal['appeal_id']}").json()["support_measures"]
    assert [m["kind"] for m in shown] == ["legal", "employment"] and "note" not in shown[0]
    with Session(centre.engine) as session:
        stored = session.exec(select(SupportMeasure)).all()
        assert len(stored) == 2 and all("Неке" not in (m.note or "") for m in stored)
    personal = centre.get(f"/v1/appeals/{appeal['appeal_id']}/personal").json()
    notes = [m["note"] for m in personal["support_measures"]]
    assert notes == ["Неке бұзу туралы кеңес", None]
    with Session(centre.engine) as session:
        reads = [
            e
            for e in audit.entries(session, case_id=appeal["case_id"])
            if e.action == "appeal.read_personal"
        ]
        assert reads and "support_measure.note" in reads[-1].fields
