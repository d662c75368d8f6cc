"""The individual work plan (F5, F6), mobile groups and the emergency plan (F7), the shelter
referral (F8) and stays (F9, F10's admission) on real databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from tests.integration.familycentre_setup import (
    CENTRE,
    NOW,
    POLICE,
    SHELTER,
    SOCIAL,
    Centre,
    make_centre,
)

DONE = (NOW - timedelta(minutes=1)).isoformat()


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


def needs_determined(centre: Centre, **extra: object) -> str:
    body = {
        "channel": "contact_centre_111",
        "received_at": (NOW - timedelta(minutes=5)).isoformat(),
        "person": {"full_name": "Айгүл Серікова"},
        **extra,
    }
    appeal_id = centre.post("/v1/appeals", body).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}"
    assert centre.post(
        f"{path}/first-response", {"kind": "consultation", "done_at": DONE}
    ).is_success
    assessment = {"difficult_situation": True, "findings": "x", "done_at": DONE}
    if extra.get("threat_to_life"):
        assessment["emergency_measures"] = ["temporary stay"]
    assert centre.post(f"{path}/assessment", assessment).is_success
    assert centre.post(f"{path}/needs", {"needs": {"social": "work"}, "done_at": DONE}).is_success
    return appeal_id


def drafted(centre: Centre, appeal_id: str, end: str = "2027-11-23") -> str:
    plan = centre.post(
        f"/v1/appeals/{appeal_id}/plans",
        {
            "period_start": "2026-11-23",
            "period_end": end,
            "specialists": ["lawyer", "psychologist"],
        },
    )
    assert plan.status_code == 201, plan.text
    return plan.json()["plan_id"]


def test_a_plan_longer_than_a_year_is_refused(centre: Centre) -> None:
    appeal_id = needs_determined(centre)
    long = centre.post(
        f"/v1/appeals/{appeal_id}/plans",
        {"period_start": "2026-11-23", "period_end": "2027-11-24"},
    )
    assert (long.status_code, long.json()["detail"][0]["field"]) == (422, "period_end")


def test_a_plan_is_signed_approved_delivered_reported_revised_and_ended(centre: Centre) -> None:
    appeal_id = needs_determined(centre)
    plan_id = drafted(centre, appeal_id)
    lines = f"/v1/plans/{plan_id}/lines"
    social = centre.put(
        f"{lines}/l1",
        {
            "kind": "state_support",
            "activity": "targeted social assistance",
            "assigned_on": "2026-11-23",
            "due_on": "2026-12-07",
            "responsible": SOCIAL,
        },
    )
    assert social.status_code == 200, social.text
    own = centre.put(
        f"{lines}/l2",
        {
            "kind": "own_steps",
            "activity": "job centre visits",
            "assigned_on": "2026-11-23",
            "due_on": "2026-12-23",
        },
    )
    assert own.status_code == 200, own.text

    unsigned = centre.post(f"/v1/plans/{plan_id}/approve", {}, role="head")
    assert (unsigned.status_code, unsigned.json()["detail"][0]["field"]) == (
        422,
        "signoffs.employee",
    )
    for role, signer in (("employee", "person-caseworker"), ("person", "Айгүл Серікова")):
        signed = centre.post(
            f"/v1/plans/{plan_id}/signoffs",
            {"role": role, "signer": signer, "signed_on": "2026-11-23"},
        )
        assert signed.status_code == 200, signed.text
    not_head = centre.post(f"/v1/plans/{plan_id}/approve", {})
    assert not_head.status_code == 403
    approved = centre.post(f"/v1/plans/{plan_id}/approve", {}, role="head")
    assert approved.status_code == 200, approved.text
    assert approved.json()["versions"][0]["status"] == "approved"
    assert centre.met()["F5"]["met_by_agency_id"] == CENTRE
    opened = centre.staged("obligation_opened")
    f6 = next(each for each in opened if each["code"] == "F6")
    assert (f6["term"], f6["legal_basis"]) == ("none", "Family Centre Rules 34499, p.19")
    line = next(e for e in opened if e["code"] == "F5" and e["actor_agency_id"] == SOCIAL)
    assert (line["legal_basis"], line["term"]) == (
        "Family Centre Rules 34499, p.16",
        "calendar_days:14",
    )
    [delivery] = [d for d in centre.staged("centre_delivery") if d["what"] == "plan_line"]
    assert (delivery["to_agency_id"], delivery["obligation_id"]) == (SOCIAL, line["obligation_id"])

    # Social protection reads only its own line and reports it done.
    seen = centre.get(f"/v1/plans/{plan_id}", agency_id=SOCIAL)
    assert [each["line_id"] for each in seen.json()["versions"][0]["lines"]] == ["l1"]
    assert centre.get(f"/v1/plans/{plan_id}", agency_id=POLICE).status_code == 404
    done = centre.post(
        f"{lines}/l1/outcome", {"status": "done", "done_on": "2026-11-23"}, agency_id=SOCIAL
    )
    assert done.status_code == 200, done.text
    met_line = [
        e
        for e in centre.staged("obligation_fulfilled")
        if e["obligation_id"] == line["obligation_id"]
    ]
    assert met_line[0]["met_by_agency_id"] == SOCIAL

    revised = centre.post(f"/v1/plans/{plan_id}/revisions", {"reason": "new job found"})
    assert revised.status_code == 201
    assert [v["status"] for v in revised.json()["versions"]] == ["approved", "draft"]

    no_ground = centre.post(
        f"/v1/plans/{plan_id}/end", {"ground": "tired", "ended_on": "2026-11-23"}
    )
    assert no_ground.status_code in (409, 422)


def test_a_plan_ends_on_a_ground_of_p19_and_f6_is_met(centre: Centre) -> None:
    appeal_id = needs_determined(centre)
    plan_id = drafted(centre, appeal_id)
    centre.put(
        f"/v1/plans/{plan_id}/lines/l1",
        {"kind": "own_steps", "activity": "x", "assigned_on": "2026-11-23", "due_on": "2026-12-01"},
    )
    for role in ("employee", "person"):
        centre.post(
            f"/v1/plans/{plan_id}/signoffs",
            {"role": role, "signer": "s", "signed_on": "2026-11-23"},
        )
    assert centre.post(f"/v1/plans/{plan_id}/approve", {}, role="head").is_success
    bad = centre.post(f"/v1/plans/{plan_id}/end", {"ground": "tired", "ended_on": "2026-11-23"})
    assert (bad.status_code, bad.json()["detail"][0]["field"]) == (422, "ground")
    other = centre.post(
        f"/v1/plans/{plan_id}/end", {"ground": "other_confirmed", "ended_on": "2026-11-23"}
    )
    assert (other.status_code, other.json()["detail"][0]["field"]) == (422, "note")
    ended = centre.post(f"/v1/plans/{plan_id}/end", {"ground": "refused", "ended_on": "2026-11-23"})
    assert ended.status_code == 200, ended.text
    assert ended.json()["ending"]["ground"] == "refused"
    assert centre.met()["F6"]["met_by_agency_id"] == CENTRE
    [event] = centre.staged("plan_ended")
    assert (event["ground"], event["legal_basis"]) == ("refused", "Family Centre Rules 34499, p.19")


def group(centre: Centre, year: int = 2026) -> str:
    answer = centre.post(
        "/v1/mobile-groups",
        {
            "year": year,
            "order_ref": "No. 12-p",
            "order_date": f"{year}-01-10",
            "coordinator_agency_id": SOCIAL,
            "members": [
                {"agency_type": "education_authority", "full_name": "A", "position": "inspector"},
                {"agency_type": "healthcare", "full_name": "B", "position": "nurse"},
                {"agency_type": "police", "full_name": "C", "position": "district officer"},
            ],
        },
        role="head",
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["valid_from"], answer.json()["valid_to"]) == (
        f"{year}-01-01",
        f"{year}-12-31",
    )
    return answer.json()["group_id"]


def test_a_threat_engages_the_mobile_group_meets_f7_and_the_emergency_plan_names_bodies(
    centre: Centre,
) -> None:
    stale = group(centre, 2025)
    current = group(centre)
    appeal_id = centre.post(
        "/v1/appeals",
        {
            "channel": "contact_centre_111",
            "received_at": (NOW - timedelta(minutes=5)).isoformat(),
            "threat_to_life": True,
        },
    ).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}/mobile-group"
    old = centre.post(path, {"group_id": stale, "engaged_at": DONE})
    assert (old.status_code, old.json()["detail"][0]["field"]) == (422, "group_id")
    engaged = centre.post(path, {"group_id": current, "engaged_at": DONE})
    assert engaged.status_code == 200, engaged.text
    assert centre.met()["F7"]["met_at"].startswith("2026-11-23T04:59")
    plan_id = engaged.json()["emergency_plan_id"]
    measure = centre.put(
        f"/v1/plans/{plan_id}/lines/m1",
        {
            "kind": "support_measure",
            "activity": "protective order",
            "assigned_on": "2026-11-23",
            "due_on": "2026-11-24",
            "responsible": POLICE,
        },
    )
    assert measure.status_code == 200, measure.text
    approved = centre.post(f"/v1/plans/{plan_id}/approve", {}, role="head")
    assert approved.status_code == 200, approved.text
    assert approved.json()["legal_basis"] == "Family Centre Rules 34499, p.22"
    [delivery] = centre.staged("centre_delivery")
    assert (delivery["what"], delivery["to_agency_id"], delivery["code"]) == (
        "emergency_measure",
        POLICE,
        "F7",
    )


def test_a_group_without_the_akims_order_or_with_other_members_is_refused(centre: Centre) -> None:
    body = {
        "year": 2026,
        "order_ref": " ",
        "order_date": "2026-01-10",
        "coordinator_agency_id": SOCIAL,
        "members": [{"agency_type": "police", "full_name": "C", "position": "p"}],
    }
    assert (
        centre.post("/v1/mobile-groups", body, role="head").json()["detail"][0]["field"]
        == "order_ref"
    )
    body["order_ref"] = "No. 1"
    body["members"] = [{"agency_type": "shelter", "full_name": "C", "position": "p"}]
    refused = centre.post("/v1/mobile-groups", body, role="head")
    assert refused.json()["detail"][0]["field"] == "members.0.agency_type"


def test_a_shelter_referral_needs_consent_and_meets_f8(centre: Centre) -> None:
    appeal_id = centre.post(
        "/v1/appeals",
        {
            "channel": "body_or_person",
            "received_at": (NOW - timedelta(minutes=5)).isoformat(),
            "domestic_violence": True,
        },
    ).json()["appeal_id"]
    path = f"/v1/appeals/{appeal_id}/shelter-referral"
    refused = centre.post(
        path, {"shelter_agency_id": SHELTER, "consent": False, "referred_at": DONE}
    )
    assert (refused.status_code, refused.json()["detail"][0]["field"]) == (422, "consent")
    assert centre.staged("centre_delivery") == []
    made = centre.post(path, {"shelter_agency_id": SHELTER, "consent": True, "referred_at": DONE})
    assert made.status_code == 200, made.text
    assert (centre.opened()["F8"]["term"], centre.met()["F8"]["met_by_agency_id"]) == (
        "working_days:2",
        CENTRE,
    )
    [delivery] = centre.staged("centre_delivery")
    assert (delivery["what"], delivery["to_agency_id"]) == ("shelter_referral", SHELTER)


def test_a_stay_past_a_month_is_refused_and_one_with_children_is_published_for_f10(
    centre: Centre,
) -> None:
    body = {
        "basis": "personal_application",
        "room": "12",
        "admitted_at": DONE,
        "until": "2026-12-24",
        "person": {"full_name": "Айгүл Серікова"},
        "children": [
            {"full_name": "Ерлан", "birth_date": "2017-03-01"},
            {"birth_date": "2020-05-05"},
        ],
    }
    assert centre.put("/v1/rooms/12", {"capacity": 3}, role="head").status_code == 200
    long = centre.post("/v1/stays", body)
    assert (long.status_code, long.json()["detail"][0]["field"]) == (422, "until")
    assert centre.staged("") == []
    body["until"] = "2026-12-23"
    stay = centre.post("/v1/stays", body)
    assert stay.status_code == 201, stay.text
    assert stay.json()["accompanying_minors"] == 2
    [admitted] = centre.staged("person_admitted")
    assert (admitted["accompanying_minors"], admitted["centre_agency_id"]) == (2, CENTRE)
    assert "Ерлан" not in str(centre.staged(""))
    assert centre.opened()["F9"]["term"] == "months:1"
    assert centre.get("/v1/figures").json()["occupancy_by_room"] == {"12": 3}
    left = centre.post(f"/v1/stays/{stay.json()['stay_id']}/leave", {"left_at": DONE})
    assert left.status_code == 200
    assert "F9" in centre.met()
    again = centre.post(f"/v1/stays/{stay.json()['stay_id']}/leave", {"left_at": DONE})
    assert again.status_code == 409
    figures = centre.get("/v1/figures").json()
    assert figures["stays_total"] == 1 and figures["staff_column"] == "up to 50"
    assert figures["occupancy_by_room"] == {"12": 0}
    staff = centre.post(
        "/v1/figures/staff", {"declared": {"psychologist": 1}, "appeals_per_day": 60}
    )
    assert staff.json()["gaps"]["psychologist"] == 1
