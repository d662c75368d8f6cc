"""Who may see what in intake: one test per endpoint of who is let in and who is refused.

The app runs in process (no NATS needed: relations arrive through the same handlers the
subscribers call), on SQLite and on PostgreSQL. Refusals answer 403 and are in the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.nats import TestNatsBroker
from sqlalchemy import text

from services.intake import app as intake_app
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeDeps, obligation_opened, referral_issued
from shared import audit
from shared.access import audit_key
from shared.auth import Role, TokenKeys
from shared.clock import FixedClock
from shared.contracts.obligations import ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NAME = "Aruzhan Seitkali"
IIN = "150402600014"
ADDRESS = "Abay avenue 10, flat 5"
NARRATIVE = "The class teacher saw bruises on both arms"

AGENCIES = {
    "school-17": ("education_org", "KZ-75"),
    "school-42": ("education_org", "KZ-75"),
    "school-99": ("education_org", "KZ-75"),
    "kz-75-police": ("police", "KZ-75"),
    "kz-71-police": ("police", "KZ-71"),
    "kz-75-shelter": ("shelter", "KZ-75"),
    "kz-child-rights-national": ("child_rights_national", None),
    "kz-contact-centre-111": ("contact_centre_111", None),
}


@dataclass
class Intake:
    """The intake app in process, with a token for anyone."""

    client: httpx.AsyncClient
    keys: TokenKeys
    deps: IntakeDeps
    runtime: ServiceRuntime
    var_dir: Path

    def token(self, agency_id: str, role: Role | str = Role.CASEWORKER) -> dict[str, str]:
        agency_type, region = AGENCIES[agency_id]
        token = self.keys.issue(
            agency_id=agency_id,
            agency_type=agency_type,
            region=region,
            role=role,
            subject=f"person-of-{agency_id}-{role}",
            now=NOW,
        )
        return {"Authorization": f"Bearer {token}"}

    async def report(self, agency_id: str = "school-17", **overrides: Any) -> dict[str, Any]:
        answer = await self.client.post(
            "/v1/reports", json=body(**overrides), headers=self.token(agency_id)
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def refer(self, case_id: str, agency_id: str) -> None:
        agency_type, region = AGENCIES[agency_id]
        event = ReferralIssued(
            occurred_at=NOW,
            case_id=uuid.UUID(case_id),
            correlation_id=uuid.uuid4(),
            referral_id=uuid.uuid4(),
            code="R1",
            legal_basis="Rules 38874, p.8",
            from_agency_type="education_org",
            from_agency_id="school-17",
            to_agency_type=agency_type,
            to_agency_id=agency_id,
            region=region or "KZ-75",
            issued_at=NOW,
        )
        referral_issued(event, consumer="intake-routing-referral-issued", deps=self.deps)

    def audit_rows(self) -> list[dict[str, Any]]:
        with self.runtime.engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()
            return [dict(r) for r in rows]


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "reporter": {"agency_type": "education_org", "region": "KZ-75"},
        "channel": "duties",
        "received_at": (NOW - timedelta(minutes=5)).isoformat(),
        "subject": {
            "kind": "minor",
            "full_name": NAME,
            "birth_date": "2015-04-02",
            "iin": IIN,
            "sex": "female",
            "address": ADDRESS,
        },
        "concerns": ["violence"],
        "signs": ["injuries"],
        "narrative": NARRATIVE,
    }
    data.update(overrides)
    return data


@pytest.fixture
async def intake(db_url: str, tmp_path: Path) -> AsyncIterator[Intake]:
    settings = IntakeSettings(
        var_dir=tmp_path,
        database_url=db_url,
        nats_url="nats://127.0.0.1:1",
        token_key_file=tmp_path / "keys" / "token.key",
    )
    clock = FixedClock(NOW)
    runtime, app = intake_app.build(settings, clock=clock)
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    deps = IntakeDeps(
        engine=runtime.engine,
        clock=clock,
        cipher=FieldCipher(ring),
        audit_key=audit_key(ring),
    )
    keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        yield Intake(client, keys, deps, runtime, tmp_path)
    runtime.tracer_provider.shutdown()
    runtime.engine.dispose()


def last_refusal(intake: Intake) -> dict[str, Any]:
    refused = [r for r in intake.audit_rows() if r["outcome"] == audit.REFUSED]
    assert refused, "the refusal was not recorded"
    return refused[-1]


async def test_nothing_answers_without_a_valid_token_but_health(intake: Intake) -> None:
    for method, path in (
        ("POST", "/v1/reports"),
        ("GET", f"/v1/cases/{uuid.uuid4()}"),
        ("GET", f"/v1/cases/{uuid.uuid4()}/subject?purpose=offence_check"),
        ("GET", f"/v1/reports/{uuid.uuid4()}?purpose=offence_check"),
        ("GET", f"/v1/audit?case_id={uuid.uuid4()}"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/no-such-route"),
    ):
        answer = await intake.client.request(method, path, json=body())
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"].startswith("Bearer")
    other = TokenKeys.generate().issue(
        agency_id="school-17",
        agency_type="education_org",
        region="KZ-75",
        role="caseworker",
        subject="x",
        now=NOW,
    )
    forged = await intake.client.post(
        "/v1/reports", json=body(), headers={"Authorization": f"Bearer {other}"}
    )
    assert forged.status_code == 401
    expired = intake.keys.issue(
        agency_id="school-17",
        agency_type="education_org",
        region="KZ-75",
        role="caseworker",
        subject="x",
        now=NOW - timedelta(days=1),
    )
    late = await intake.client.post(
        "/v1/reports", json=body(), headers={"Authorization": f"Bearer {expired}"}
    )
    assert late.status_code == 401
    assert (await intake.client.get("/health")).status_code in (200, 503)


async def test_post_report_the_reporter_is_the_tokens_agency(intake: Intake) -> None:
    done = await intake.report("school-17")
    case = await intake.client.get(
        f"/v1/cases/{done['case_id']}", headers=intake.token("school-17")
    )
    assert case.status_code == 200
    (report,) = case.json()["reports"]
    assert report["reporter_agency_id"] == "school-17"
    assert report["forwarded_under"] == "Rules 38874, p.8"
    assert case.json()["your_relations"] == ["reporter"]


@pytest.mark.parametrize(
    ("agency_id", "role", "reporter"),
    [
        ("kz-contact-centre-111", Role.INTEGRATOR, {"agency_type": "contact_centre_111"}),
        ("kz-child-rights-national", Role.OPERATOR, {"agency_type": "child_rights_national"}),
        ("school-42", Role.CASEWORKER, {"agency_type": "education_org", "agency_id": "school-17"}),
        ("kz-75-police", Role.CASEWORKER, {"agency_type": "education_org"}),
    ],
    ids=["integrator", "operator", "another-agencys-name", "another-agency-type"],
)
async def test_post_report_refused(
    intake: Intake, agency_id: str, role: Role, reporter: dict[str, str]
) -> None:
    answer = await intake.client.post(
        "/v1/reports",
        json=body(reporter={**reporter, "region": "KZ-75"}),
        headers=intake.token(agency_id, role),
    )
    assert answer.status_code == 403, answer.text
    assert IIN not in answer.text
    with intake.runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM intake_reports")).scalar() == 0
    refusal = last_refusal(intake)
    # Integrators are refused before any route (they read the bus only).
    action = "POST /v1/reports" if role is Role.INTEGRATOR else "report.create"
    assert (refusal["agency_id"], refusal["action"]) == (agency_id, action)


async def test_get_case_related_agencies_and_operators_only(intake: Intake) -> None:
    case_id = (await intake.report("school-17"))["case_id"]
    # A second school reports the same child: the case is joined, each sees its own report.
    joined = await intake.report("school-42", subject={"kind": "minor", "iin": IIN})
    assert joined["case_id"] == case_id and joined["joined_existing_case"] is True

    def reporters(answer: httpx.Response) -> list[str]:
        return [r["reporter_agency_id"] for r in answer.json()["reports"]]

    url = f"/v1/cases/{case_id}"
    assert reporters(await intake.client.get(url, headers=intake.token("school-17"))) == [
        "school-17"
    ]
    assert reporters(await intake.client.get(url, headers=intake.token("school-42"))) == [
        "school-42"
    ]
    for outsider in ("school-99", "kz-75-police"):
        refused = await intake.client.get(url, headers=intake.token(outsider))
        assert refused.status_code == 403
        assert last_refusal(intake)["agency_id"] == outsider
    intake.refer(case_id, "kz-75-police")
    police = await intake.client.get(url, headers=intake.token("kz-75-police", Role.HEAD))
    assert police.status_code == 200
    assert sorted(reporters(police)) == ["school-17", "school-42"]
    assert police.json()["your_relations"] == ["referral"]
    operator = await intake.client.get(
        url, headers=intake.token("kz-child-rights-national", Role.OPERATOR)
    )
    assert operator.status_code == 200
    assert operator.json()["agencies"] == {
        "kz-75-police": ["referral"],
        "school-17": ["reporter"],
        "school-42": ["reporter"],
    }
    for text_ in (NAME, IIN, ADDRESS, NARRATIVE):
        assert text_ not in operator.text and text_ not in police.text
    integrator = await intake.client.get(
        url, headers=intake.token("kz-contact-centre-111", Role.INTEGRATOR)
    )
    assert integrator.status_code == 403
    missing = await intake.client.get(
        f"/v1/cases/{uuid.uuid4()}", headers=intake.token("kz-child-rights-national", "operator")
    )
    assert missing.status_code == 404


async def test_get_subject_fields_by_agency_type_and_every_read_recorded(intake: Intake) -> None:
    case_id = (await intake.report("school-17"))["case_id"]
    url = f"/v1/cases/{case_id}/subject?purpose=offence_check"

    # The police before any referral or obligation on the case: refused, and recorded.
    refused = await intake.client.get(url, headers=intake.token("kz-75-police"))
    assert refused.status_code == 403
    assert IIN not in refused.text
    refusal = last_refusal(intake)
    assert (refusal["agency_id"], refusal["action"], refusal["case_id"]) == (
        "kz-75-police",
        "subject.read",
        case_id,
    )

    intake.refer(case_id, "kz-75-police")
    police = await intake.client.get(url, headers=intake.token("kz-75-police"))
    assert police.status_code == 200
    assert police.json()["fields"] == {
        "full_name": NAME,
        "birth_date": "2015-04-02",
        "iin": IIN,
        "sex": "female",
        "address": ADDRESS,
    }
    read = intake.audit_rows()[-1]
    assert read["outcome"] == audit.ALLOWED
    assert (read["agency_id"], read["role"], read["purpose"]) == (
        "kz-75-police",
        "caseworker",
        "offence_check",
    )
    assert read["actor"] == "person-of-kz-75-police-caseworker"
    assert sorted(__import__("json").loads(read["fields"])) == sorted(police.json()["fields"])

    # Another region's police has no referral: refused.
    assert (await intake.client.get(url, headers=intake.token("kz-71-police"))).status_code == 403

    # A shelter that holds an obligation on the case sees what identifying a recipient needs.
    obligation_opened(
        ObligationOpened(
            occurred_at=NOW,
            case_id=uuid.UUID(case_id),
            correlation_id=uuid.uuid4(),
            obligation_id=uuid.uuid4(),
            code="S1",
            legal_basis="Standard 14701, p.25-27",
            actor_agency_type="shelter",
            actor_agency_id="kz-75-shelter",
            term="immediate",
            started_at=NOW,
        ),
        consumer="intake-routing-obligation-opened",
        deps=intake.deps,
    )
    shelter = await intake.client.get(url, headers=intake.token("kz-75-shelter"))
    assert shelter.status_code == 200
    assert set(shelter.json()["fields"]) == {"full_name", "birth_date", "sex", "iin"}
    assert shelter.json()["withheld"] == ["address"]

    # The reporting school knows the child, not its records.
    school = await intake.client.get(url, headers=intake.token("school-17"))
    assert set(school.json()["fields"]) == {"full_name", "birth_date", "sex"}

    for agency_id, role in (
        ("kz-child-rights-national", Role.OPERATOR),
        ("kz-contact-centre-111", Role.INTEGRATOR),
    ):
        assert (
            await intake.client.get(url, headers=intake.token(agency_id, role))
        ).status_code == 403

    # No purpose, no read (and nothing recorded as read).
    before = len(intake.audit_rows())
    bare = await intake.client.get(
        f"/v1/cases/{case_id}/subject", headers=intake.token("kz-75-police")
    )
    assert bare.status_code == 422
    assert [p["field"] for p in bare.json()["detail"]] == ["purpose"]
    assert len(intake.audit_rows()) == before
    by_header = await intake.client.get(
        f"/v1/cases/{case_id}/subject",
        headers={**intake.token("kz-75-police"), "Qorgau-Purpose": "case_check"},
    )
    assert by_header.status_code == 200
    assert intake.audit_rows()[-1]["purpose"] == "case_check"
    assert audit.verify(intake.runtime.engine, key=intake.deps.audit_key) == []


async def test_get_report_a_school_never_reads_another_schools_report(intake: Intake) -> None:
    first = await intake.report("school-17")
    second = await intake.report(
        "school-42", subject={"kind": "minor", "iin": IIN}, narrative="Second school's account"
    )
    assert second["case_id"] == first["case_id"]
    url = f"/v1/reports/{first['report_id']}?purpose=case_follow_up"

    own = await intake.client.get(url, headers=intake.token("school-17"))
    assert own.status_code == 200
    assert own.json()["fields"] == {"narrative": NARRATIVE}

    other = await intake.client.get(url, headers=intake.token("school-42"))
    assert other.status_code == 403
    assert NARRATIVE not in other.text
    refusal = last_refusal(intake)
    assert (refusal["agency_id"], refusal["action"]) == ("school-42", "report.read")

    assert (await intake.client.get(url, headers=intake.token("kz-75-police"))).status_code == 403
    intake.refer(first["case_id"], "kz-75-police")
    police = await intake.client.get(url, headers=intake.token("kz-75-police"))
    assert police.json()["fields"] == {"narrative": NARRATIVE}
    missing = await intake.client.get(
        f"/v1/reports/{uuid.uuid4()}?purpose=x_y", headers=intake.token("school-17")
    )
    assert missing.status_code == 404


async def test_get_audit_operators_only(intake: Intake) -> None:
    case_id = (await intake.report("school-17"))["case_id"]
    await intake.client.get(
        f"/v1/cases/{case_id}/subject?purpose=offence_check", headers=intake.token("kz-75-police")
    )
    await intake.client.get(
        f"/v1/cases/{case_id}/subject?purpose=case_follow_up", headers=intake.token("school-17")
    )
    url = f"/v1/audit?case_id={case_id}"
    operator = await intake.client.get(
        url, headers=intake.token("kz-child-rights-national", Role.OPERATOR)
    )
    assert operator.status_code == 200
    entries = operator.json()["entries"]
    assert [(e["agency_id"], e["outcome"]) for e in entries] == [
        ("kz-75-police", "refused"),
        ("school-17", "allowed"),
    ]
    assert entries[1]["fields"] == ["birth_date", "full_name", "sex"]
    for agency_id, role in (("school-17", Role.HEAD), ("kz-contact-centre-111", Role.INTEGRATOR)):
        refused = await intake.client.get(url, headers=intake.token(agency_id, role))
        assert refused.status_code == 403
        action = "GET /v1/audit" if role is Role.INTEGRATOR else "audit.read"
        assert last_refusal(intake)["action"] == action


async def test_relations_arrive_through_the_subscribers(intake: Intake) -> None:
    case_id = (await intake.report("school-17"))["case_id"]
    event = ReferralIssued(
        occurred_at=NOW,
        case_id=uuid.UUID(case_id),
        correlation_id=uuid.uuid4(),
        referral_id=uuid.uuid4(),
        code="R1",
        legal_basis="Rules 38874, p.8",
        from_agency_type="education_org",
        to_agency_type="police",
        to_agency_id="kz-75-police",
        region="KZ-75",
        issued_at=NOW,
    )
    async with TestNatsBroker(intake.runtime.broker) as broker:
        await broker.publish(event.model_dump(mode="json"), ReferralIssued.subject())
        await broker.publish(event.model_dump(mode="json"), ReferralIssued.subject())
    answer = await intake.client.get(f"/v1/cases/{case_id}", headers=intake.token("kz-75-police"))
    assert answer.status_code == 200
    assert answer.json()["your_relations"] == ["referral"]


async def test_the_database_holds_no_name_or_iin_in_clear(intake: Intake, db_url: str) -> None:
    await intake.report("school-17")
    if not db_url.startswith("sqlite"):
        with intake.runtime.engine.connect() as connection:
            dump = " ".join(
                str(row)
                for table in ("intake_subjects", "intake_reports", "audit_log", "case_access")
                for row in connection.execute(text(f"SELECT * FROM {table}"))
            )
        for secret in (NAME, IIN, ADDRESS, NARRATIVE):
            assert secret not in dump
        return
    raw = _file_bytes(db_url.split("///", 1)[1])
    for secret in (NAME, IIN, ADDRESS, NARRATIVE):
        assert secret.encode() not in raw


def _file_bytes(path: str) -> bytes:
    """The database file and its write-ahead log, as stored."""
    found = b""
    for name in (path, path + "-wal"):
        if Path(name).exists():
            found += Path(name).read_bytes()
    return found
