"""A report enters once and reaches every agency R1 names; deadlines tracks each obligation.

Every intake call carries a real token. The last test reads every event on the bus, every
exported span and every log line, and finds none of the personal data the scenarios submitted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from qorgau.registry import BUS_SERVICE_NAMES
from shared import natsauth
from shared.streams import STREAMS
from shared.telemetry import read_spans
from tests.bus_helpers import read_stream
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

NAME = "Aruzhan Seitkali"
IIN = "150402600014"
ADDRESS = "Abay avenue 10, flat 5"
NARRATIVE = "The class teacher saw bruises on both arms"
SECOND_NAME = "Dana Karimova"
SECOND_IIN = "120305500015"
SECOND_NARRATIVE = "Told the nurse about shouting at home every night"
# Everything personal the scenarios of this module submit.
SECRETS = [
    NAME,
    IIN,
    ADDRESS,
    NARRATIVE,
    "2015-04-02",
    SECOND_NAME,
    SECOND_IIN,
    SECOND_NARRATIVE,
]


def report(**overrides: Any) -> dict[str, Any]:
    """A valid report from a school in Almaty, with overrides."""
    body: dict[str, Any] = {
        "reporter": {"agency_type": "education_org", "agency_id": "school-17", "region": "KZ-75"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
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
    body.update(overrides)
    return body


def count_reports(platform: Platform) -> int:
    with sqlite3.connect(platform.var_dir / "intake.db") as db:
        return int(db.execute("select count(*) from intake_reports").fetchone()[0])


def test_health_reports_nats_and_database(platform: Platform, http: httpx.Client) -> None:
    # The platform fixture waited for every service to report NATS connected.
    console = http.get(f"{platform.url('console')}/health").json()
    assert (console["service"], console["status"]) == ("console", "ok")
    for service in BUS_SERVICE_NAMES:
        answer = http.get(f"{platform.url(service)}/health")
        assert answer.status_code == 200
        assert answer.json()["service"] == service
        assert answer.json()["status"] == "ok"
        assert answer.json()["nats"] == "connected"
        assert answer.json()["database"] == "ok"


def test_health_reports_every_services_backlog(platform: Platform, http: httpx.Client) -> None:
    # Read with the NATS permissions `qorgau up` generates: each service its own consumers,
    # intake also those on a report's path (the load shedding bound's backlog).
    def healths() -> dict[str, dict[str, Any]]:
        return {s: http.get(f"{platform.url(s)}/health").json() for s in BUS_SERVICE_NAMES}

    found = wait_for(
        healths,
        lambda every: (
            all(h["backlog"]["status"] == "known" for h in every.values())
            and every["intake"]["load_shedding"]["status"] != "unknown"
        ),
    )
    for service, answer in found.items():
        consumers = answer["backlog"]["consumers"]
        assert consumers, service
        assert all(c["durable"].startswith(f"{service}-") for c in consumers), service
        assert all(c["state"] == "ok" for c in consumers), (service, consumers)
    shedding = found["intake"]["load_shedding"]
    assert shedding["status"] == "accepting"
    assert (shedding["bound"], shedding["resume_below"]) == (3600, 2700)
    assert {c["durable"]: c["state"] for c in shedding["watched"]} == {
        "routing-report-received": "ok",
        "routing-report-joined": "ok",
        "deadlines-routing-events": "ok",
    }


def test_report_reaches_r1_agencies_and_obligations_are_tracked(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(
        f"{platform.url('intake')}/v1/reports", json=report(), headers=platform.auth("school-17")
    )
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    assert posted.json()["joined_existing_case"] is False

    url = f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations"

    def r1(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["code"] == "R1"]

    obligations = r1(
        wait_for(
            lambda: http.get(url, headers=platform.auth("school-17")).json().get("obligations", []),
            lambda rows: len(r1(rows)) == 3 and all(r["status"] == "met" for r in r1(rows)),
        )
    )
    targets = {o["target_agency_type"]: o for o in obligations}
    assert set(targets) == {"police", "child_rights_regional", "ombudsman_regional"}
    for o in obligations:
        assert o["code"] == "R1"
        assert o["legal_basis"] == "Rules 38874, p.8"
        assert o["actor_agency_type"] == "education_org"
        assert o["actor_agency_id"] == "school-17"
        assert o["term"] == "immediate"
        started = datetime.fromisoformat(o["started_at"])
        # "Immediately" is due after the deployment's grace (default 15 minutes).
        assert datetime.fromisoformat(o["due_at"]) - started == timedelta(minutes=15)
        assert o["due_at"].endswith("+05:00")
        assert o["met_by_platform"] is True
        assert o["on_time"] is True
    assert targets["police"]["target_agency_id"] == "kz-75-police"
    assert targets["child_rights_regional"]["target_agency_id"] == "kz-75-child-rights-regional"

    referrals = http.get(
        f"{platform.url('routing')}/v1/cases/{case_id}/referrals",
        headers=platform.auth("kz-75-police"),
    ).json()
    delivered = {r["to_agency_id"] for r in referrals["referrals"] if r["code"] == "R1"}
    assert delivered == {
        "kz-75-police",
        "kz-75-child-rights-regional",
        "kz-75-ombudsman-regional",
    }
    inbox = http.get(
        f"{platform.url('routing')}/v1/agencies/kz-75-police/inbox",
        headers=platform.auth("kz-75-police"),
    ).json()
    assert case_id in {r["case_id"] for r in inbox["referrals"]}

    # One trace covers the HTTP request, intake, routing and deadlines.
    def spans_of_case() -> list[dict[str, Any]]:
        spans = list(read_spans(platform.var_dir))
        traces = {
            s["context"]["trace_id"]
            for s in spans
            if s.get("attributes", {}).get("qorgau.case_id") == case_id
        }
        return [s for s in spans if s["context"]["trace_id"] in traces]

    def services(spans: list[dict[str, Any]]) -> set[str]:
        return {s["resource"]["attributes"]["service.name"] for s in spans}

    def request_trace() -> list[dict[str, Any]]:
        # Deadlines' timers (the due-soon warning of R7's one hour, say) start traces of their
        # own, linked to this one: the request's trace is the one that must cover all three.
        spans = spans_of_case()
        request = {s["context"]["trace_id"] for s in spans if s["name"] == "POST /v1/reports"}
        return [s for s in spans if s["context"]["trace_id"] in request]

    spans = wait_for(
        request_trace,
        lambda got: {"qorgau-intake", "qorgau-routing", "qorgau-deadlines"} <= services(got),
    )
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    assert any(s["name"] == "POST /v1/reports" for s in spans)
    decisions = [s for s in spans if s["name"] == "routing.decide R1"]
    assert {d["attributes"]["qorgau.agency_id"] for d in decisions} == delivered


def test_second_report_on_same_person_joins_the_open_case(
    platform: Platform, http: httpx.Client
) -> None:
    first = http.post(
        f"{platform.url('intake')}/v1/reports",
        json=report(
            subject={"kind": "minor", "iin": SECOND_IIN, "full_name": SECOND_NAME},
            narrative=SECOND_NARRATIVE,
        ),
        headers=platform.auth("school-17"),
    )
    assert first.status_code == 201, first.text
    second = http.post(
        f"{platform.url('intake')}/v1/reports",
        json=report(
            reporter={"agency_type": "healthcare", "region": "KZ-75"},
            subject={"kind": "minor", "iin": SECOND_IIN},
        ),
        headers=platform.auth("kz-75-healthcare"),
    )
    assert second.status_code == 201, second.text
    assert second.json()["case_id"] == first.json()["case_id"]
    assert second.json()["joined_existing_case"] is True
    case = http.get(
        f"{platform.url('intake')}/v1/cases/{first.json()['case_id']}",
        headers=platform.auth("kz-75-healthcare"),
    ).json()
    # The reporter is the token's agency; the clinic sees its own report only.
    assert [r["reporter_agency_id"] for r in case["reports"]] == ["kz-75-healthcare"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"received_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "received_at"),
        ({"reporter": {"agency_type": "education_org", "region": "KZ-99"}}, "reporter.region"),
        ({"reporter": {"agency_type": "school", "region": "KZ-75"}}, "reporter.agency_type"),
        ({"subject": {"kind": "minor", "iin": "150402600015"}}, "subject.iin"),
        ({"concerns": []}, "concerns"),
        ({"narrative": "x" * 70_000}, "body"),
    ],
    ids=[
        "future-received_at",
        "unknown-region",
        "unknown-agency-type",
        "bad-iin",
        "no-concerns",
        "body-too-large",
    ],
)
def test_bad_input_is_refused_by_field_and_changes_nothing(
    platform: Platform, http: httpx.Client, change: dict[str, Any], field: str
) -> None:
    before = count_reports(platform)
    answer = http.post(
        f"{platform.url('intake')}/v1/reports",
        json=report(**change),
        headers=platform.auth("school-17"),
    )
    assert answer.status_code == 422, answer.text
    fields = [p["field"] for p in answer.json()["detail"]]
    assert fields == [field]
    assert count_reports(platform) == before


def test_several_bad_fields_get_one_message_each(platform: Platform, http: httpx.Client) -> None:
    body = report(concerns=[], subject={"kind": "minor", "iin": "123"})
    body["reporter"] = {"agency_type": "nobody", "region": "KZ-75"}
    answer = http.post(
        f"{platform.url('intake')}/v1/reports", json=body, headers=platform.auth("school-17")
    )
    assert answer.status_code == 422
    fields = sorted(p["field"] for p in answer.json()["detail"])
    assert fields == ["concerns", "reporter.agency_type", "subject.iin"]
    assert IIN not in answer.text


def test_intake_answers_nobody_without_a_token(platform: Platform) -> None:
    with httpx.Client(timeout=10) as bare:
        for path in ("/v1/reports", "/openapi.json"):
            assert bare.get(f"{platform.url('intake')}{path}").status_code == 401
        assert bare.post(f"{platform.url('intake')}/v1/reports", json=report()).status_code == 401
        assert bare.get(f"{platform.url('intake')}/health").status_code == 200


def test_personal_data_only_to_related_agencies_and_every_read_recorded(
    platform: Platform, http: httpx.Client
) -> None:
    intake = platform.url("intake")
    posted = http.post(f"{intake}/v1/reports", json=report(), headers=platform.auth("school-17"))
    assert posted.status_code == 201, posted.text
    case_id, report_id = posted.json()["case_id"], posted.json()["report_id"]
    subject = f"{intake}/v1/cases/{case_id}/subject?purpose=offence_check"

    # Astana's police has no referral or obligation on an Almaty case.
    refused = http.get(subject, headers=platform.auth("kz-71-police"))
    assert refused.status_code == 403
    assert IIN not in refused.text
    # Almaty's police gets the R1 referral through routing's events, then reads what a
    # police check needs.
    police = wait_for(
        lambda: http.get(subject, headers=platform.auth("kz-75-police")),
        lambda answer: answer.status_code == 200,
    )
    assert police.json()["fields"]["iin"] == IIN
    assert police.json()["fields"]["full_name"] == NAME

    # Another school reports the same child: it joins the case but never reads the first report.
    other = http.post(
        f"{intake}/v1/reports",
        json=report(
            reporter={"agency_type": "education_org", "agency_id": "school-42", "region": "KZ-75"},
            subject={"kind": "minor", "iin": IIN},
        ),
        headers=platform.auth("school-42"),
    )
    assert other.json()["case_id"] == case_id
    first_report = f"{intake}/v1/reports/{report_id}?purpose=follow_up"
    assert http.get(first_report, headers=platform.auth("school-42")).status_code == 403
    own = http.get(first_report, headers=platform.auth("school-17"))
    assert own.json()["fields"] == {"narrative": NARRATIVE}
    # A school cannot report in another school's name.
    forged = http.post(
        f"{intake}/v1/reports",
        json=report(),  # names school-17
        headers=platform.auth("school-42"),
    )
    assert forged.status_code == 403

    audit = http.get(
        f"{intake}/v1/audit?case_id={case_id}", headers=platform.auth("", "operator")
    ).json()["entries"]
    seen = [(e["agency_id"], e["action"], e["outcome"]) for e in audit]
    assert seen[0] == ("kz-71-police", "subject.read", "refused")
    # Refused while the referral was on its way, then allowed once it arrived.
    police_reads = [outcome for agency, _, outcome in seen if agency == "kz-75-police"]
    assert police_reads[-1] == "allowed"
    assert set(police_reads[:-1]) <= {"refused"}
    assert seen[-2:] == [
        ("school-42", "report.read", "refused"),
        ("school-17", "report.read", "allowed"),
    ]
    police_entry = next(e for e in audit if e["outcome"] == "allowed")
    assert police_entry["purpose"] == "offence_check"
    assert "iin" in police_entry["fields"]
    assert audit[-1]["purpose"] == "follow_up"
    assert (
        http.get(
            f"{intake}/v1/audit?case_id={case_id}", headers=platform.auth("kz-75-police")
        ).status_code
        == 403
    )


def verify_audit(platform: Platform) -> subprocess.CompletedProcess[str]:
    # The platform's NATS too: verify compares the log with its last checkpoint there.
    env = {
        **os.environ,
        "QORGAU_VAR_DIR": str(platform.var_dir),
        "QORGAU_NATS_PORT": str(platform.nats_port),
    }
    env.pop("INTAKE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "qorgau.cli", "audit", "verify", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def every_message_on_the_bus(url: str) -> dict[str, list[str]]:
    """Read every stream from its start as the operator's NATS user: subject, headers, data."""
    found: dict[str, list[str]] = {}
    for spec in STREAMS:
        found[spec.name] = [
            message.subject + json.dumps(message.headers or {}) + message.data.decode()
            for message in await read_stream(url, spec.name)
        ]
    return found


def test_no_personal_data_on_the_bus_in_traces_logs_or_at_rest(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(
        f"{platform.url('intake')}/v1/reports", json=report(), headers=platform.auth("school-17")
    )
    assert posted.status_code == 201
    case_id = posted.json()["case_id"]
    wait_for(
        lambda: (
            http.get(
                f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations",
                headers=platform.auth("school-17"),
            )
            .json()
            .get("obligations", [])
        ),
        lambda rows: len(rows) >= 3,
    )
    # Every event published on the bus, on every stream, read back from JetStream.
    bus = asyncio.run(every_message_on_the_bus(platform.nats_url(natsauth.OPERATOR)))
    for stream in ("INTAKE", "ROUTING", "DEADLINES", "AGENCY"):
        assert bus[stream], f"nothing on {stream}"
    for texts in bus.values():
        for text in texts:
            for secret in SECRETS:
                assert secret not in text
    # Every event each service staged is in its outbox too (published rows are kept).
    for service in ("intake", "routing", "deadlines"):
        with sqlite3.connect(platform.var_dir / f"{service}.db") as db:
            payloads = [
                row[0] + row[1] for row in db.execute("select payload, headers from outbox")
            ]
        assert payloads
        for text in payloads:
            for secret in SECRETS:
                assert secret not in text
    spans = list(read_spans(platform.var_dir))
    attributes = json.dumps([s.get("attributes", {}) for s in spans])
    traces = "\n".join(json.dumps(s) for s in spans)
    logs = "\n".join(p.read_text() for p in (platform.var_dir / "logs").glob("*.log"))
    for secret in SECRETS:
        assert secret not in attributes
        assert secret not in traces
        assert secret not in logs
    # At rest, intake keeps personal data encrypted: the database file shows no name or IIN.
    for suffix in ("", "-wal"):
        path = platform.var_dir / f"intake.db{suffix}"
        raw = path.read_bytes() if path.exists() else b""
        for secret in SECRETS:
            assert secret.encode() not in raw


def test_tampering_with_one_audit_entry_is_detected(platform: Platform) -> None:
    clean = verify_audit(platform)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "intake: audit log intact" in clean.stdout
    with sqlite3.connect(platform.var_dir / "intake.db") as db:
        # What an intruder with the database file would do: lift the guard and rewrite history.
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET agency_id = 'kz-75-shelter' WHERE seq = 1")
    tampered = verify_audit(platform)
    assert tampered.returncode == 1
    assert "intake: entry 1: changed" in tampered.stdout
