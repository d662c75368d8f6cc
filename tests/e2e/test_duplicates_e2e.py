"""Two children with the same name, birth date and region are two cases, each with its notices.

The platform runs as real processes (`qorgau up`). A third report without an IIN opens a case
of its own too; intake shows the possible duplicate, and the head of a body both cases were
referred to joins them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.bus_helpers import read_payloads
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

POLICE = "kz-75-police"
R1_TARGETS = {POLICE, "kz-75-child-rights-regional", "kz-75-ombudsman-regional"}


def child_report(iin: str | None) -> dict[str, Any]:
    subject = {"kind": "minor", "full_name": "Аружан Сейтқали", "birth_date": "2015-04-02"}
    if iin:
        subject["iin"] = iin
    return {
        "reporter": {"agency_type": "education_org", "agency_id": "school-17", "region": "KZ-75"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "subject": subject,
        "concerns": ["violence"],
        "signs": ["injuries"],
    }


def r1_referrals(platform: Platform, http: httpx.Client, case_id: str) -> set[str]:
    answer = http.get(
        f"{platform.url('routing')}/v1/cases/{case_id}/referrals",
        headers=platform.auth("kz-child-rights-national", "operator"),
    )
    assert answer.status_code == 200, answer.text
    return {r["to_agency_id"] for r in answer.json()["referrals"] if r["code"] == "R1"}


def police_deliveries(platform: Platform) -> set[str]:
    url = platform.nats_url(POLICE)
    got = asyncio.run(read_payloads(url, "AGENCY", subject=f"qorgau.agency.{POLICE}.>"))
    return {str(m.get("case_id")) for _, m in got if m.get("code") == "R1"}


def case_of(platform: Platform, http: httpx.Client, case_id: str, agency: str, role: str) -> Any:
    answer = http.get(
        f"{platform.url('intake')}/v1/cases/{case_id}", headers=platform.auth(agency, role)
    )
    # 403 until intake has heard of the agency's referral on the case (from routing's event).
    assert answer.status_code in (200, 403), answer.text
    return answer.json() if answer.status_code == 200 else {}


def test_two_children_sharing_a_name_each_get_their_case_and_notices(
    platform: Platform, http: httpx.Client
) -> None:
    intake = platform.url("intake")
    cases = []
    for iin in ("150402600014", "150402600024"):
        posted = http.post(f"{intake}/v1/reports", json=child_report(iin))
        assert posted.status_code == 201, posted.text
        assert posted.json()["joined_existing_case"] is False
        cases.append(posted.json()["case_id"])
    assert cases[0] != cases[1]
    for case_id in cases:
        wait_for(
            lambda case_id=case_id: r1_referrals(platform, http, case_id),
            lambda got: got == R1_TARGETS,
        )
    # The police received each child's case on its own subject.
    wait_for(lambda: police_deliveries(platform), lambda got: set(cases) <= got)

    # The same name without an IIN: a case of its own, with both earlier cases as candidates.
    posted = http.post(f"{intake}/v1/reports", json=child_report(None))
    assert posted.status_code == 201, posted.text
    third = posted.json()["case_id"]
    assert third not in cases
    wait_for(lambda: r1_referrals(platform, http, third), lambda got: got == R1_TARGETS)
    # The police learns of its referrals from the bus; then it sees both candidates.
    shown = wait_for(
        lambda: case_of(platform, http, third, POLICE, "head"),
        lambda got: len(got.get("duplicate_candidates", ())) == 2,
    )
    candidate = next(c for c in shown["duplicate_candidates"] if c["case_id"] == cases[0])
    decided = http.post(
        f"{intake}/v1/cases/{third}/duplicate-candidates/{candidate['candidate_id']}/decision",
        json={"decision": "confirm"},
        headers=platform.auth(POLICE, "head"),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["merged_into"] == cases[0]
    assert case_of(platform, http, third, POLICE, "head")["status"] == "merged"
    assert case_of(platform, http, cases[1], POLICE, "head")["status"] == "open"
