"""Routing end to end: a report reaches agencies, declines are re-routed or escalated, never lost.

The platform runs as real processes (`qorgau up`). Agencies read their deliveries from the
AGENCY stream and answer on their own subjects, as their systems would, over the platform's
NATS (as their own NATS user where the platform runs with users).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts.routing import AgencyAcknowledgement, AgencyDecline
from shared.telemetry import read_spans
from tests.bus_helpers import publish_events, read_payloads
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

CRR = "kz-75-child-rights-regional"
NATIONAL_CR = "kz-child-rights-national"
POLICE = "kz-75-police"
PROSECUTOR = "kz-75-prosecutor"


def nats_url(platform: Platform, agency_id: str) -> str:
    """The platform's NATS as an agency's user, or as `qorgau up` printed it without users."""
    if (platform.var_dir / "keys" / "nats-users.json").exists() and hasattr(platform, "nats_url"):
        return str(platform.nats_url(agency_id))
    found = re.search(r"^\s*nats\s+(nats://\S+)", platform.output.read_text(), re.MULTILINE)
    assert found, platform.output.read_text()
    return found.group(1)


def deliveries(platform: Platform, agency_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message the platform delivered on an agency's subjects, as the agency reads them."""
    url = nats_url(platform, agency_id)
    return asyncio.run(read_payloads(url, "AGENCY", subject=f"qorgau.agency.{agency_id}.>"))


def answer(platform: Platform, agency_id: str, name: str, event: Any) -> None:
    """Publish an agency's answer on its own subject, as its system does."""
    subject = f"qorgau.agency.{agency_id}.{name}.v1"
    asyncio.run(publish_events(nats_url(platform, agency_id), event, subject=subject))


def school_report() -> dict[str, Any]:
    return {
        "reporter": {"agency_type": "education_org", "agency_id": "school-17", "region": "KZ-75"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "subject": {"kind": "minor", "full_name": "Timur Bekov", "birth_date": "2014-09-01"},
        "concerns": ["violence"],
        "signs": ["injuries"],
    }


def referrals(platform: Platform, http: httpx.Client, case_id: str) -> list[dict[str, Any]]:
    answer_ = http.get(
        f"{platform.url('routing')}/v1/cases/{case_id}/referrals",
        headers=platform.auth("kz-child-rights-national", "operator"),
    )
    assert answer_.status_code == 200, answer_.text
    rows: list[dict[str, Any]] = answer_.json()["referrals"]
    return rows


def one(rows: list[dict[str, Any]], code: str, to: str) -> dict[str, Any]:
    found = [r for r in rows if r["code"] == code and r["to_agency_id"] == to]
    assert len(found) == 1, rows
    return found[0]


def test_declines_are_rerouted_or_escalated_and_delivered_to_the_new_agency(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=school_report())
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    rows = wait_for(
        lambda: referrals(platform, http, case_id),
        lambda got: len([r for r in got if r["code"] == "R1"]) == 3,
    )
    crr = one(rows, "R1", CRR)
    police = one(rows, "R1", POLICE)
    # The regional body has its referral on its own subject.
    mine = wait_for(
        lambda: deliveries(platform, CRR),
        lambda got: crr["referral_id"] in {m["referral_id"] for _, m in got},
    )
    assert (f"qorgau.agency.{CRR}.referral_issued.v1", "R1") in {
        (s, m["code"]) for s, m in mine if m["referral_id"] == crr["referral_id"]
    }

    # 1. The regional body declines over HTTP: the guardianship body stands in only where the
    # region has no such body (p.8), so the decline goes up to the national body.
    declined = http.post(
        f"{platform.url('routing')}/v1/referrals/{crr['referral_id']}/decline",
        json={"reason": "wrong_district"},
        headers=platform.auth(CRR, "head"),
    )
    assert declined.status_code == 200, declined.text
    upward = declined.json()["replacement"]
    assert (upward["to_agency_id"], upward["purpose"], upward["status"]) == (
        NATIONAL_CR,
        "escalation",
        "issued",
    )
    rows = referrals(platform, http, case_id)
    assert one(rows, "R1", CRR)["status"] == "escalated"
    assert one(rows, "R1", NATIONAL_CR)["replaces_referral_id"] == crr["referral_id"]
    on_national = wait_for(
        lambda: deliveries(platform, NATIONAL_CR),
        lambda got: upward["referral_id"] in {m["referral_id"] for _, m in got},
    )
    delivered = next(m for _, m in on_national if m["referral_id"] == upward["referral_id"])
    assert (delivered["code"], delivered["purpose"], delivered["replaces_referral_id"]) == (
        "R1",
        "escalation",
        crr["referral_id"],
    )

    # 2. The police decline over NATS, on their own subject: no other police in the region,
    # so the referral is escalated to the regional prosecutor, and never vanishes.
    answer(
        platform,
        POLICE,
        "referral_declined",
        AgencyDecline(
            occurred_at=datetime.now(UTC),
            case_id=uuid.UUID(case_id),
            correlation_id=uuid.uuid4(),
            referral_id=uuid.UUID(police["referral_id"]),
            reason="not_competent",
        ),
    )
    rows = wait_for(
        lambda: referrals(platform, http, case_id),
        lambda got: one(got, "R1", POLICE)["status"] == "escalated",
    )
    escalation = one(rows, "R1", PROSECUTOR)
    assert (escalation["purpose"], escalation["replaces_referral_id"]) == (
        "escalation",
        police["referral_id"],
    )
    assert one(rows, "R1", POLICE)["answered_via"] == "nats"
    on_prosecutor = wait_for(
        lambda: deliveries(platform, PROSECUTOR),
        lambda got: escalation["referral_id"] in {m["referral_id"] for _, m in got},
    )
    assert {m["purpose"] for _, m in on_prosecutor} == {"escalation"}

    # 3. The national body accepts over NATS.
    answer(
        platform,
        NATIONAL_CR,
        "referral_acknowledged",
        AgencyAcknowledgement(
            occurred_at=datetime.now(UTC),
            case_id=uuid.UUID(case_id),
            correlation_id=uuid.uuid4(),
            referral_id=uuid.UUID(upward["referral_id"]),
        ),
    )
    wait_for(
        lambda: referrals(platform, http, case_id),
        lambda got: one(got, "R1", NATIONAL_CR)["status"] == "acknowledged",
    )
    inbox = http.get(
        f"{platform.url('routing')}/v1/agencies/{NATIONAL_CR}/inbox",
        headers=platform.auth(NATIONAL_CR),
    ).json()
    assert upward["referral_id"] not in {r["referral_id"] for r in inbox["referrals"]}

    # Each re-route and escalation is a routing decision, traced with its row and agencies.
    def decisions() -> list[dict[str, Any]]:
        return [
            s["attributes"]
            for s in read_spans(platform.var_dir)
            if s["name"] == "routing.decide R1"
            and s.get("attributes", {}).get("qorgau.case_id") == case_id
        ]

    traced = wait_for(
        decisions,
        lambda got: (
            {("escalate", NATIONAL_CR), ("escalate", PROSECUTOR)}
            <= {(a.get("qorgau.decision"), a.get("qorgau.agency_id")) for a in got}
        ),
    )
    assert {
        (a["qorgau.decision"], a["qorgau.agency_id"])
        for a in traced
        if a["qorgau.decision"] != "transfer"
    } == {("escalate", NATIONAL_CR), ("escalate", PROSECUTOR)}


def test_each_agency_gets_one_referral_naming_every_row_it_carries(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=school_report())
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    commission = "kz-75-minors-commission"

    def issued(agency_id: str) -> list[dict[str, Any]]:
        return [
            m
            for s, m in deliveries(platform, agency_id)
            if s.endswith(".referral_issued.v1") and m["case_id"] == case_id
        ]

    on_police = wait_for(lambda: issued(POLICE), lambda got: len(got) >= 1)
    # Rules 38874 p.8 and Guide p.4 both send the case to the police: one delivery, both rows.
    assert [[row["code"] for row in m["rows"]] for m in on_police] == [["R1", "G3"]]
    on_commission = wait_for(lambda: issued(commission), lambda got: len(got) >= 1)
    assert [[row["code"] for row in m["rows"]] for m in on_commission] == [["R6", "R12"]]
    rows = referrals(platform, http, case_id)
    assert len([r for r in rows if r["to_agency_id"] == POLICE]) == 1
