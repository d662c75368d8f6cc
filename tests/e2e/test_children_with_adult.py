"""An adult victim with two children, reported by a family support centre, end to end.

The platform runs as real processes (`qorgau up`). Intake opens one case for the adult and one
for each child (Rules 38874 p.1, p.4: a minor who witnessed violence), linked both ways; routing
sends each child's R1 notices (p.8) and the duties that follow; deadlines counts them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from shared.calendar import WorkingCalendar
from shared.clock import ALMATY
from tests.e2e.conftest import Platform
from tests.e2e.test_routing_e2e import deliveries, referrals
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

CENTRE = "kz-75-family-support-centre"
CRR = "kz-75-child-rights-regional"
R1_TARGETS = {
    "police": "kz-75-police",
    "child_rights_regional": CRR,
    "ombudsman_regional": "kz-75-ombudsman-regional",
}

# Duties carried out by passing the case on: the platform's delivery meets them.
TRANSFERS = ("R1", "R7", "R12", "R13")


def family_centre_report() -> dict[str, Any]:
    return {
        "reporter": {"agency_type": "family_support_centre", "region": "KZ-75"},
        "channel": "reception",
        "received_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        "subject": {"kind": "adult", "full_name": "Saule Omarova", "iin": "900101400013"},
        "concerns": ["domestic_violence"],
        "children": [
            {"full_name": "Arman Omarov", "birth_date": "2017-03-01", "iin": "170301600019"},
            {"full_name": "Dana Omarova", "birth_date": "2019-06-30", "sex": "female"},
        ],
    }


def obligations(platform: Platform, http: httpx.Client, case_id: str) -> list[dict[str, Any]]:
    answer = http.get(
        f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations",
        headers=platform.auth("kz-child-rights-national", "operator"),
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json().get("obligations", [])
    return rows


def test_an_adult_with_two_children_gives_three_linked_cases_and_the_childrens_duties(
    platform: Platform, http: httpx.Client
) -> None:
    report = family_centre_report()
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=report)
    assert posted.status_code == 201, posted.text
    adult_id = posted.json()["case_id"]
    operator = platform.auth("kz-child-rights-national", "operator")
    adult = http.get(f"{platform.url('intake')}/v1/cases/{adult_id}", headers=operator).json()
    assert adult["subject_kind"] == "adult"
    child_ids = [link["case_id"] for link in adult["linked_cases"]]
    assert len(set(child_ids)) == 2 and adult_id not in child_ids
    for child_id in child_ids:
        child = http.get(f"{platform.url('intake')}/v1/cases/{child_id}", headers=operator).json()
        assert child["subject_kind"] == "minor"
        assert [(x["case_id"], x["relation"]) for x in child["linked_cases"]] == [
            (adult_id, "adult_victim")
        ]

    for child_id in child_ids:
        # Each child's R1 notices: the centre passes the case to the police, the regional
        # child-rights body and the regional commissioner at once (p.8).
        rows = wait_for(
            lambda child_id=child_id: referrals(platform, http, child_id),
            lambda got: len([r for r in got if r["code"] == "R1"]) == 3,
        )
        r1 = {r["to_agency_type"]: r for r in rows if r["code"] == "R1"}
        assert {t: r["to_agency_id"] for t, r in r1.items()} == R1_TARGETS
        assert {r["legal_basis"] for r in r1.values()} == {"Rules 38874, p.8"}
        assert {r["from_agency_id"] for r in r1.values()} == {CENTRE}
        for agency_id in R1_TARGETS.values():
            wait_for(
                lambda agency_id=agency_id: deliveries(platform, agency_id),
                lambda got, child_id=child_id: any(
                    m.get("case_id") == child_id and m.get("code") == "R1" for _, m in got
                ),
            )

        # What follows for a minor who witnessed violence, each duty counted by deadlines.
        found = wait_for(
            lambda child_id=child_id: obligations(platform, http, child_id),
            lambda got: (
                # R9 counts once its visit is here, not only those it takes along.
                {"R7", "R8", "R9", "R12", "R13", "R19"}
                <= {o["code"] for o in got if not (o["code"] == "R9" and o["target_agency_type"])}
                and all(
                    o["status"] == "met"
                    for o in got
                    if o["code"] in TRANSFERS and o["target_agency_id"]
                )
            ),
            timeout=30,
        )
        check_due_times(found, received_at=datetime.fromisoformat(report["received_at"]))


def end_of_working_day(start: datetime, n: int) -> datetime:
    """24:00 (Almaty) of the n-th working day after the start's day (REGULATIONS.md "Time")."""
    calendar = WorkingCalendar()
    day = start.astimezone(ALMATY).date()
    for _ in range(n):
        day = calendar.next_working_day(day)
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ALMATY)


def check_due_times(found: list[dict[str, Any]], *, received_at: datetime) -> None:
    r1 = [o for o in found if o["code"] == "R1"]
    assert sorted(o["target_agency_id"] for o in r1) == sorted(R1_TARGETS.values())
    for o in r1:
        assert (o["actor_agency_id"], o["legal_basis"]) == (CENTRE, "Rules 38874, p.8")
        # The centre's notices run from when it learned of the children, at once (15 minutes).
        assert datetime.fromisoformat(o["started_at"]) == received_at
        assert datetime.fromisoformat(o["due_at"]) == received_at + timedelta(minutes=15)
        assert o["met_by_platform"] is True and o["on_time"] is True
    # R13 sends to the psychological support centre (and to a family centre as needed).
    # R9's visit is the body's own act; those it takes along (p.12.3) are told at once.
    joiners = [o for o in found if o["code"] == "R9" and o["target_agency_type"] is not None]
    assert joiners and all(o["status"] == "met" for o in joiners), joiners
    duties = {
        o["code"]: o
        for o in found
        if o["code"] != "R1"
        and o["target_agency_type"] != "family_support_centre"
        and o not in joiners
    }
    received = datetime.fromisoformat(duties["R7"]["started_at"])
    expected = {
        "R7": ("Rules 38874, p.12.1", received + timedelta(hours=1)),
        "R8": ("Rules 38874, p.12.2", end_of_working_day(received, 1)),
        "R9": ("Rules 38874, p.12.3", received + timedelta(minutes=15)),
        "R12": ("Rules 38874, p.12.6", end_of_working_day(received, 3)),
        "R13": ("Rules 38874, p.12.7", end_of_working_day(received, 3)),
        "R19": ("Rules 38874, p.21", end_of_working_day(received, 1)),
    }
    for code, (basis, due_at) in expected.items():
        duty = duties[code]
        # A transfer is met when the platform delivers it; an act stays open for the body.
        status = "met" if code in TRANSFERS else "open"
        assert (duty["actor_agency_id"], duty["status"]) == (CRR, status), duty
        assert duty["legal_basis"] == basis
        assert datetime.fromisoformat(duty["started_at"]) == received
        assert datetime.fromisoformat(duty["due_at"]) == due_at, (code, duty["due_at"])
        assert duty["due_at"].endswith("+05:00")
