"""The family centre through real processes (`qorgau up`), as the issue's check describes it.

The centre reports a woman to intake, then a "111" appeal about her with a threat to life: the
mobile group is engaged and its emergency plan gives the police a measure; the assessment within
one working day, the needs, a work plan signed and approved whose line for social protection
routing delivers and social protection reports done; a referral to a shelter with her consent;
a stay with the two children in a declared room (no extension past its month), the police and
the guardianship body notified within 24 hours, the children reported to intake by the centre
itself and their R1 notices delivered; the police's system reports its measure done over NATS
on its own subject; she leaves and the plan ends. Deadlines shows every F obligation of her case
met on time.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.clock import ALMATY
from shared.contracts.familycentre import AgencyPlanLineReport
from tests.bus_helpers import publish_events
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

CENTRE = "kz-75-family-support-centre"
SOCIAL = "kz-75-social-protection"
POLICE = "kz-75-police"
SHELTER = "kz-75-shelter"
OPERATOR = "kz-child-rights-national"
IIN = "900101400013"


def get(platform: Platform, service: str, path: str, agency_id: str, role: str) -> Any:
    answer = httpx.get(
        f"{platform.url(service)}{path}", headers=platform.auth(agency_id, role), timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def obligations(platform: Platform, case_id: str) -> list[dict[str, Any]]:
    """The case's obligations as deadlines shows them to the centre."""
    found = get(platform, "deadlines", f"/v1/cases/{case_id}/obligations", CENTRE, "caseworker")
    return list(found["obligations"])


def inbox(platform: Platform, agency_id: str, case_id: str) -> list[dict[str, Any]]:
    """The referrals routing delivered to an agency on a case (not yet answered)."""
    found = get(platform, "routing", f"/v1/agencies/{agency_id}/inbox", agency_id, "caseworker")
    return [r for r in found["referrals"] if r["case_id"] == case_id]


def now() -> str:
    return datetime.now(UTC).isoformat()


def test_a_111_appeal_with_a_threat_to_a_stay_with_children_every_f_row_met_on_time(
    platform: Platform,
) -> None:
    today = datetime.now(UTC).astimezone(ALMATY).date()
    worker, head = platform.auth(CENTRE), platform.auth(CENTRE, "head")

    # The centre's caseworker reports her to intake (routing's F8 on the case follows).
    report = httpx.post(
        f"{platform.url('intake')}/v1/reports",
        headers=worker,
        json={
            "reporter": {
                "agency_type": "family_support_centre",
                "agency_id": CENTRE,
                "region": "KZ-75",
            },
            "channel": "reception",
            "received_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
            "subject": {"kind": "adult", "full_name": "Aigul Serikova", "iin": IIN},
            "concerns": ["domestic_violence"],
        },
        timeout=10,
    )
    assert report.status_code == 201, report.text
    case_id = report.json()["case_id"]

    with httpx.Client(base_url=platform.url("familycentre"), headers=worker, timeout=30) as http:
        appeal = http.post(
            "/v1/appeals",
            json={
                "channel": "contact_centre_111",
                "received_at": now(),
                "case_id": case_id,
                "threat_to_life": True,
                "domestic_violence": True,
                "person": {"full_name": "Aigul Serikova"},
            },
        )
        assert appeal.status_code == 201, appeal.text
        appeal_id = appeal.json()["appeal_id"]
        path = f"/v1/appeals/{appeal_id}"
        # The centre knows routing's F8 (her report named domestic violence) before it refers.
        wait_for(
            lambda: http.get(path).json()["obligations"],
            lambda found: any(o["code"] == "F8" and o["producer"] == "routing" for o in found),
            timeout=30,
        )

        group = http.post(
            "/v1/mobile-groups",
            headers=head,
            json={
                "year": today.year,
                "order_ref": "No. 12-p",
                "order_date": f"{today.year}-01-10",
                "coordinator_agency_id": SOCIAL,
                "members": [
                    {"agency_type": "police", "full_name": "A", "position": "officer"},
                    {"agency_type": "healthcare", "full_name": "B", "position": "nurse"},
                ],
            },
        )
        assert group.status_code == 201, group.text
        engaged = http.post(
            f"{path}/mobile-group", json={"group_id": group.json()["group_id"], "engaged_at": now()}
        )
        assert engaged.status_code == 200, engaged.text
        emergency = engaged.json()["emergency_plan_id"]
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert http.put(
            f"/v1/plans/{emergency}/lines/m1",
            json={
                "kind": "support_measure",
                "activity": "protective order",
                "assigned_on": today.isoformat(),
                "due_on": tomorrow,
                "responsible": POLICE,
            },
        ).is_success
        assert http.post(f"/v1/plans/{emergency}/approve", headers=head, json={}).is_success

        for url, body in (
            (f"{path}/first-response", {"kind": "consultation", "done_at": now()}),
            (
                f"{path}/assessment",
                {
                    "difficult_situation": True,
                    "findings": "threats at home",
                    "emergency_measures": ["mobile group", "stay"],
                    "done_at": now(),
                },
            ),
            (
                f"{path}/needs",
                {"needs": {"social": "income", "legal": "protection order"}, "done_at": now()},
            ),
        ):
            answer = http.post(url, json=body)
            assert answer.status_code == 200, answer.text
        plan = http.post(
            f"{path}/plans",
            json={
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=300)).isoformat(),
                "specialists": ["lawyer", "psychologist"],
            },
        )
        assert plan.status_code == 201, plan.text
        plan_id = plan.json()["plan_id"]
        due = (today + timedelta(days=14)).isoformat()
        for line_id, body in (
            (
                "l1",
                {
                    "kind": "state_support",
                    "activity": "targeted social assistance",
                    "assigned_on": today.isoformat(),
                    "due_on": due,
                    "responsible": SOCIAL,
                },
            ),
            (
                "l2",
                {
                    "kind": "own_steps",
                    "activity": "register at the job centre",
                    "assigned_on": today.isoformat(),
                    "due_on": due,
                },
            ),
        ):
            assert http.put(f"/v1/plans/{plan_id}/lines/{line_id}", json=body).is_success
        for role, signer in (("employee", "employee-1"), ("person", "Aigul Serikova")):
            assert http.post(
                f"/v1/plans/{plan_id}/signoffs",
                json={"role": role, "signer": signer, "signed_on": today.isoformat()},
            ).is_success
        approved = http.post(f"/v1/plans/{plan_id}/approve", headers=head, json={})
        assert approved.status_code == 200, approved.text

        referred = http.post(
            f"{path}/shelter-referral",
            json={"shelter_agency_id": SHELTER, "consent": True, "referred_at": now()},
        )
        assert referred.status_code == 200, referred.text
        # The head declares the room: the person and the two children take three places.
        assert http.put("/v1/rooms/3", headers=head, json={"capacity": 3}).is_success
        stay = http.post(
            "/v1/stays",
            json={
                "appeal_id": appeal_id,
                "basis": "personal_application",
                "room": "3",
                "admitted_at": now(),
                "until": (today + timedelta(days=20)).isoformat(),
                "person": {"full_name": "Aigul Serikova", "iin": IIN},
                "children": [
                    {"full_name": "Erlan Serikov", "birth_date": "2017-03-01"},
                    {"full_name": "Aru Serikova", "birth_date": "2020-05-05"},
                ],
            },
        )
        assert stay.status_code == 201, stay.text
        stay_id = stay.json()["stay_id"]
        # A stay of a month at most: no extension past it (p.6.4, p.23.5).
        past = http.post(
            f"/v1/stays/{stay_id}/extend",
            json={"until": (today + timedelta(days=40)).isoformat()},
        )
        assert past.status_code == 422, past.text

    # The centre itself reports the children to intake (minors who witnessed violence), joined
    # to her case by her IIN; it records their cases, and each child's R1 notices go out.
    seen = wait_for(
        lambda: get(platform, "familycentre", f"/v1/stays/{stay_id}", CENTRE, "caseworker"),
        lambda found: found["child_case_ids"] is not None,
        timeout=30,
    )
    assert seen["intake_case_id"] == case_id and len(seen["child_case_ids"]) == 2
    for child in seen["child_case_ids"]:
        wait_for(
            lambda child=child: get(
                platform, "routing", f"/v1/cases/{child}/referrals", OPERATOR, "operator"
            ),
            lambda found: len([r for r in found["referrals"] if r["code"] == "R1"]) == 3,
            timeout=30,
        )

    # Routing delivered each organisation its part, on its own subject.
    for agency_id, codes in (
        (SOCIAL, {"F5"}),
        (POLICE, {"F7", "F10"}),
        (SHELTER, {"F8"}),
        ("kz-75-guardianship", {"F10"}),
    ):
        wait_for(
            lambda a=agency_id: inbox(platform, a, case_id),
            lambda found, c=codes: c <= {r["code"] for r in found},
            timeout=30,
        )
    # Social protection reports its line over HTTP; the police's system its measure over NATS,
    # on the police's own subject, as the police's NATS user.
    done = httpx.post(
        f"{platform.url('familycentre')}/v1/plans/{plan_id}/lines/l1/outcome",
        headers=platform.auth(SOCIAL),
        json={"status": "done", "done_on": today.isoformat()},
        timeout=10,
    )
    assert done.status_code == 200, done.text
    report_done = AgencyPlanLineReport(
        occurred_at=datetime.now(UTC),
        correlation_id=uuid.UUID(case_id),
        case_id=uuid.UUID(case_id),
        producer=POLICE,
        plan_id=uuid.UUID(emergency),
        line_id="m1",
        status="done",
        done_on=today,
        person_id="police-officer-7",
    )
    asyncio.run(
        publish_events(
            platform.nats_url(POLICE),
            report_done,
            subject=f"qorgau.agency.{POLICE}.plan_line_reported.v1",
        )
    )
    wait_for(
        lambda: httpx.get(
            f"{platform.url('familycentre')}/v1/plans/{emergency}", headers=worker, timeout=10
        ).json()["versions"][-1]["lines"][0]["status"],
        lambda status: status == "done",
        timeout=30,
    )
    with httpx.Client(base_url=platform.url("familycentre"), headers=worker, timeout=30) as http:
        assert http.post(
            f"/v1/stays/{stay.json()['stay_id']}/leave", json={"left_at": now()}
        ).is_success
        assert http.post(
            f"/v1/plans/{plan_id}/end", json={"ground": "fulfilled", "ended_on": today.isoformat()}
        ).is_success
        notice = http.get(f"/v1/stays/{stay.json()['stay_id']}/notice?to=police&lang=kk")
        assert notice.status_code == 200 and "Erlan Serikov" in notice.text

    expected = {"F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10"}

    def all_met(found: list[dict[str, Any]]) -> bool:
        rows = [o for o in found if o["code"].startswith("F")]
        return expected <= {o["code"] for o in rows} and all(o["status"] == "met" for o in rows)

    found = wait_for(lambda: obligations(platform, case_id), all_met, timeout=60)
    rows = [o for o in found if o["code"].startswith("F")]
    late = [o for o in rows if o["on_time"] is not True and o["term"] != "none"]
    assert late == [], late
    f3 = next(o for o in rows if o["code"] == "F3")
    assert (f3["term"], f3["legal_basis"]) == (
        "working_days:1",
        "Family Centre Rules 34499, p.14.2",
    )
    f10 = [o for o in rows if o["code"] == "F10"]
    assert sorted(o["target_agency_id"] for o in f10) == ["kz-75-guardianship", POLICE]
    assert all(o["term"] == "hours:24" and o["met_by_platform"] for o in f10)
    assert len([o for o in rows if o["code"] == "F7"]) == 2  # engaging, and the police measure
    assert len([o for o in rows if o["code"] == "F8"]) == 1  # routing's, met by the centre
