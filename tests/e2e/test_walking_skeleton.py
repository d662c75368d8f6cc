"""A report enters once and reaches every agency R1 names; deadlines tracks each obligation."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.telemetry import read_spans
from tests.e2e.conftest import Platform, wait_for

pytestmark = pytest.mark.e2e

NAME = "Aruzhan Seitkali"
IIN = "150402600014"
ADDRESS = "Abay avenue 10, flat 5"
NARRATIVE = "The class teacher saw bruises on both arms"


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
    for service in platform.ports:
        answer = http.get(f"{platform.url(service)}/health").json()
        assert answer["service"] == service
        assert answer["nats"] == "connected"
        assert answer["database"] == "ok"


def test_report_reaches_r1_agencies_and_obligations_are_tracked(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=report())
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    assert posted.json()["joined_existing_case"] is False

    url = f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations"
    obligations = wait_for(
        lambda: http.get(url).json()["obligations"],
        lambda rows: len(rows) == 3 and all(r["status"] == "met" for r in rows),
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

    referrals = http.get(f"{platform.url('routing')}/v1/cases/{case_id}/referrals").json()
    delivered = {r["to_agency_id"] for r in referrals["referrals"]}
    assert delivered == {
        "kz-75-police",
        "kz-75-child-rights-regional",
        "kz-75-ombudsman-regional",
    }
    inbox = http.get(f"{platform.url('routing')}/v1/agencies/kz-75-police/inbox").json()
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

    spans = wait_for(
        spans_of_case,
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
        json=report(subject={"kind": "minor", "iin": "120305500015", "full_name": "Dana K"}),
    )
    assert first.status_code == 201, first.text
    second = http.post(
        f"{platform.url('intake')}/v1/reports",
        json=report(
            reporter={"agency_type": "healthcare", "region": "KZ-75"},
            subject={"kind": "minor", "iin": "120305500015"},
        ),
    )
    assert second.status_code == 201, second.text
    assert second.json()["case_id"] == first.json()["case_id"]
    assert second.json()["joined_existing_case"] is True


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
    answer = http.post(f"{platform.url('intake')}/v1/reports", json=report(**change))
    assert answer.status_code == 422, answer.text
    fields = [p["field"] for p in answer.json()["detail"]]
    assert fields == [field]
    assert count_reports(platform) == before


def test_several_bad_fields_get_one_message_each(platform: Platform, http: httpx.Client) -> None:
    body = report(concerns=[], subject={"kind": "minor", "iin": "123"})
    body["reporter"] = {"agency_type": "nobody", "region": "KZ-75"}
    answer = http.post(f"{platform.url('intake')}/v1/reports", json=body)
    assert answer.status_code == 422
    fields = sorted(p["field"] for p in answer.json()["detail"])
    assert fields == ["concerns", "reporter.agency_type", "subject.iin"]
    assert IIN not in answer.text


def test_no_personal_data_in_events_or_traces(platform: Platform, http: httpx.Client) -> None:
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=report())
    assert posted.status_code == 201
    case_id = posted.json()["case_id"]
    wait_for(
        lambda: http.get(f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations").json()[
            "obligations"
        ],
        lambda rows: len(rows) == 3,
    )
    secrets = [NAME, IIN, ADDRESS, NARRATIVE, "2015-04-02"]
    # Every event each service staged is in its outbox (published rows are kept).
    for service in ("intake", "routing", "deadlines"):
        with sqlite3.connect(platform.var_dir / f"{service}.db") as db:
            payloads = [
                row[0] + row[1] for row in db.execute("select payload, headers from outbox")
            ]
        assert payloads
        for text in payloads:
            for secret in secrets:
                assert secret not in text
    traces = "\n".join(json.dumps(s) for s in read_spans(platform.var_dir))
    logs = "\n".join(p.read_text() for p in (platform.var_dir / "logs").glob("*.log"))
    for secret in secrets:
        assert secret not in traces
        assert secret not in logs
    # At rest, intake keeps personal data encrypted.
    raw = (platform.var_dir / "intake.db").read_bytes()
    for secret in (NAME, IIN, ADDRESS):
        assert secret.encode() not in raw
