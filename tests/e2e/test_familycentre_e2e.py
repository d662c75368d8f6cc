"""The family centre through real processes (`qorgau up`): an appeal's F1-F5 met on time in
deadlines, a plan line delivered to social protection by routing and reported done, and an
admission with two children that opens F10, delivered to the police and guardianship."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.clock import ALMATY
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

CENTRE = "kz-75-family-support-centre"
SOCIAL = "kz-75-social-protection"


def obligations(platform: Platform, case_id: str) -> list[dict[str, Any]]:
    """The case's obligations as deadlines shows them to the centre."""
    answer = httpx.get(
        f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations",
        headers=platform.auth(CENTRE),
        timeout=10,
    )
    answer.raise_for_status()
    body = answer.json()
    return list(body["obligations"] if isinstance(body, dict) else body)


def test_an_appeal_reaches_an_approved_plan_and_an_admission_with_children_opens_f10(
    platform: Platform,
) -> None:
    base = platform.url("familycentre")
    worker, head = platform.auth(CENTRE), platform.auth(CENTRE, "head")
    now = datetime.now(UTC)
    today = now.astimezone(ALMATY).date()
    done = lambda: datetime.now(UTC).isoformat()  # noqa: E731

    with httpx.Client(base_url=base, timeout=10) as http:
        appeal = http.post(
            "/v1/appeals",
            headers=worker,
            json={
                "channel": "contact_centre_111",
                "received_at": (now - timedelta(minutes=1)).isoformat(),
                "person": {"full_name": "Aigul Serikova", "iin": "900101400123"},
                "summary": "No income, three children",
            },
        )
        assert appeal.status_code == 201, appeal.text
        appeal_id, case_id = appeal.json()["appeal_id"], appeal.json()["case_id"]
        path = f"/v1/appeals/{appeal_id}"
        steps = [
            (
                f"{path}/first-response",
                {
                    "kind": "consultation_and_redirect",
                    "redirect_to_agency_id": SOCIAL,
                    "done_at": done(),
                },
            ),
            (
                f"{path}/assessment",
                {"difficult_situation": True, "findings": "no income", "done_at": done()},
            ),
            (f"{path}/needs", {"needs": {"social": "targeted assistance"}, "done_at": done()}),
        ]
        for url, body in steps:
            answer = http.post(url, headers=worker, json=body)
            assert answer.status_code == 200, answer.text
        plan = http.post(
            f"{path}/plans",
            headers=worker,
            json={
                "period_start": today.isoformat(),
                "period_end": (today + timedelta(days=300)).isoformat(),
                "specialists": ["social_worker"],
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
            assert http.put(
                f"/v1/plans/{plan_id}/lines/{line_id}", headers=worker, json=body
            ).is_success
        for role, signer in (("employee", "employee-1"), ("person", "Aigul Serikova")):
            signed = http.post(
                f"/v1/plans/{plan_id}/signoffs",
                headers=worker,
                json={"role": role, "signer": signer, "signed_on": today.isoformat()},
            )
            assert signed.is_success, signed.text
        approved = http.post(f"/v1/plans/{plan_id}/approve", headers=head, json={})
        assert approved.status_code == 200, approved.text

    # Routing delivers the redirect (F2) and social protection's line (F5, p.16) on its subject.
    def referrals() -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{platform.url('routing')}/v1/agencies/{SOCIAL}/inbox",
            headers=platform.auth(SOCIAL),
            timeout=10,
        )
        answer.raise_for_status()
        body = answer.json()
        found = body["referrals"] if isinstance(body, dict) else body
        return [r for r in found if r["case_id"] == case_id]

    delivered = wait_for(
        referrals, lambda found: {r["code"] for r in found} >= {"F2", "F5"}, timeout=30
    )
    assert {r["purpose"] for r in delivered} == {"transfer", "action"}
    done_line = httpx.post(
        f"{base}/v1/plans/{plan_id}/lines/l1/outcome",
        headers=platform.auth(SOCIAL),
        json={"status": "done", "done_on": today.isoformat()},
        timeout=10,
    )
    assert done_line.status_code == 200, done_line.text

    def settled(found: list[dict[str, Any]]) -> bool:
        codes = {(o["code"], o["status"]) for o in found}
        return {
            ("F1", "met"),
            ("F2", "met"),
            ("F3", "met"),
            ("F4", "met"),
            ("F5", "met"),
        } <= codes and not any(
            o["code"] == "F5" and o["actor_agency_id"] == SOCIAL and o["status"] != "met"
            for o in found
        )

    found = wait_for(lambda: obligations(platform, case_id), settled, timeout=30)
    for each in found:
        if each["code"] in ("F1", "F2", "F3", "F4", "F5"):
            assert each["status"] == "met" and each["on_time"] is True, each
            assert each["legal_basis"].startswith("Family Centre Rules 34499"), each
    f6 = next(o for o in found if o["code"] == "F6")
    assert (f6["status"], f6["term"], f6["due_at"]) == ("open", "none", None)

    # A stay with two children: routing opens F10 on the admission and delivers the notices.
    stay = httpx.post(
        f"{base}/v1/stays",
        headers=worker,
        json={
            "appeal_id": appeal_id,
            "basis": "personal_application",
            "room": "3",
            "admitted_at": datetime.now(UTC).isoformat(),
            "until": (today + timedelta(days=20)).isoformat(),
            "person": {"full_name": "Aigul Serikova"},
            "children": [
                {"full_name": "Erlan", "birth_date": "2017-03-01"},
                {"full_name": "Aru", "birth_date": "2020-05-05"},
            ],
        },
        timeout=10,
    )
    assert stay.status_code == 201, stay.text

    def f10_met(found: list[dict[str, Any]]) -> bool:
        f10 = [o for o in found if o["code"] == "F10"]
        return len(f10) == 2 and all(o["status"] == "met" for o in f10)

    found = wait_for(lambda: obligations(platform, case_id), f10_met, timeout=30)
    f10 = [o for o in found if o["code"] == "F10"]
    assert sorted(o["target_agency_id"] for o in f10) == ["kz-75-guardianship", "kz-75-police"]
    assert all(o["term"] == "hours:24" and o["on_time"] and o["met_by_platform"] for o in f10)
    assert any(o["code"] == "F9" and o["term"] == "months:1" for o in found)
