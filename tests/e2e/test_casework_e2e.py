"""Casework end to end through real processes (`qorgau up`): a school's report to a plan done.

A school reports violence; it records R4 (the parents told, Rules 38874 p.11.1) with its notice;
the regional child-rights body assigns a case manager (R8, p.12.2), approves the primary
assessment (R19, p.21) and a plan (R20, p.22, Appendix 2) with a psychological line for the
psychological support centre and a social line for the family support centre; both receive
their lines on their own subjects and report them done (one over NATS, one over HTTP);
deadlines shows every one of those duties met on time, and the compliance view counts them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.clock import ALMATY
from shared.contracts.casework import AgencyObligationAction
from tests.e2e.conftest import Platform
from tests.e2e.test_routing_e2e import answer, deliveries, school_report
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

SCHOOL = "school-17"
CRR = "kz-75-child-rights-regional"
PSY = "kz-75-psych-support-centre"
FAMILY = "kz-75-family-support-centre"
OPERATOR = "kz-child-rights-national"


def casework(platform: Platform) -> str:
    return platform.url("casework")


def agency_obligations(
    platform: Platform, http: httpx.Client, agency_id: str
) -> list[dict[str, Any]]:
    found = http.get(
        f"{casework(platform)}/v1/agencies/{agency_id}/obligations?status=open",
        headers=platform.auth(agency_id),
    )
    assert found.status_code == 200, found.text
    rows: list[dict[str, Any]] = found.json()["obligations"]
    return rows


def deadlines_obligations(
    platform: Platform, http: httpx.Client, case_id: str
) -> list[dict[str, Any]]:
    found = http.get(
        f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations",
        headers=platform.auth(OPERATOR, "operator"),
    )
    assert found.status_code == 200, found.text
    rows: list[dict[str, Any]] = found.json()["obligations"]
    return rows


def assessment_form() -> dict[str, Any]:
    text = "assessed at home visit"
    return {
        "child": {"full_name": "Timur Bekov", "sex": "male", "age": 12},
        "assessors": [{"full_name": "Saniya Akhmetova", "position": "psychologist"}],
        "home_family": text,
        "relations": text,
        "needs": dict.fromkeys(
            ("social", "legal", "medical", "psychological", "educational"), text
        ),
        "psych_pedagogical": dict.fromkeys(
            ("safety", "social_skills", "family_ties", "emotional_behaviour", "education"), text
        ),
        "psychological": dict.fromkeys(
            ("wellbeing", "past_trauma", "self_esteem", "relatives"), text
        ),
        "conclusions": text,
        "signed_on": datetime.now(ALMATY).date().isoformat(),
    }


def test_a_school_report_through_casework_to_a_plan_done_on_time(
    platform: Platform, http: httpx.Client
) -> None:
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=school_report())
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    local_today = datetime.now(ALMATY).date()

    # The school records R4: it told the parents, with the notice's number and date (p.11.1).
    r4 = wait_for(
        lambda: [
            o
            for o in agency_obligations(platform, http, SCHOOL)
            if o["case_id"] == case_id and o["code"] == "R4"
        ],
        lambda got: len(got) == 1,
        timeout=30,
    )[0]
    assert r4["evidence_required"]["fields"] == ["notice_number", "notice_date"]
    done = http.post(
        f"{casework(platform)}/v1/obligations/{r4['obligation_id']}/actions",
        json={
            "done_at": datetime.now(UTC).isoformat(),
            "summary": "Told the mother by phone, then in writing",
            "evidence": {"notice_number": "17-04", "notice_date": local_today.isoformat()},
        },
        headers=platform.auth(SCHOOL),
    )
    assert done.status_code == 201, done.text

    # The case reaches the regional child-rights body: in its caseload; the head assigns R8.
    wait_for(
        lambda: http.get(
            f"{casework(platform)}/v1/agencies/{CRR}/caseload", headers=platform.auth(CRR)
        ).json()["cases"],
        lambda cases: case_id in {c["case_id"] for c in cases},
        timeout=30,
    )
    wait_for(
        lambda: http.get(
            f"{casework(platform)}/v1/cases/{case_id}", headers=platform.auth(CRR)
        ).json(),
        lambda case: {"R8", "R19", "R20"} <= {o["code"] for o in case["obligations"]},
        timeout=30,
    )
    manager = http.post(
        f"{casework(platform)}/v1/cases/{case_id}/manager",
        json={"person_id": "crr-specialist-07"},
        headers=platform.auth(CRR, "head"),
    )
    assert manager.status_code == 201, manager.text

    # The primary assessment: a caseworker drafts, the head approves (R19, Appendix 1).
    saved = http.put(
        f"{casework(platform)}/v1/cases/{case_id}/assessment",
        json=assessment_form(),
        headers=platform.auth(CRR),
    )
    assert saved.status_code == 200, saved.text
    approved = http.post(
        f"{casework(platform)}/v1/cases/{case_id}/assessment/approve",
        json={},
        headers=platform.auth(CRR, "head"),
    )
    assert approved.status_code == 200, approved.text

    # The plan, with a line for each centre, the parent's consent, the head's approval.
    plan = http.post(
        f"{casework(platform)}/v1/cases/{case_id}/plans",
        json={
            "period_start": local_today.isoformat(),
            "period_end": (local_today + timedelta(days=180)).isoformat(),
            "assessed_from": local_today.isoformat(),
            "assessed_to": local_today.isoformat(),
        },
        headers=platform.auth(CRR),
    )
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["plan_id"]
    due = (local_today + timedelta(days=14)).isoformat()
    for line_id, kind, agency in (("psy", "psychological", PSY), ("social", "social", FAMILY)):
        line = http.put(
            f"{casework(platform)}/v1/plans/{plan_id}/lines/{line_id}",
            json={
                "kind": kind,
                "activity": f"{kind} support for the child and the family",
                "assigned_on": local_today.isoformat(),
                "due_on": due,
                "responsible": agency,
            },
            headers=platform.auth(CRR),
        )
        assert line.status_code == 200, line.text
    consent = http.put(
        f"{casework(platform)}/v1/plans/{plan_id}/consent",
        json={"name": "Gulnara Bekova", "given_on": local_today.isoformat()},
        headers=platform.auth(CRR),
    )
    assert consent.status_code == 200, consent.text
    approved_plan = http.post(
        f"{casework(platform)}/v1/plans/{plan_id}/approve",
        json={},
        headers=platform.auth(CRR, "head"),
    )
    assert approved_plan.status_code == 200, approved_plan.text

    # Each centre receives its line over its own subject, from routing, as work.
    lines: dict[str, dict[str, Any]] = {}
    for agency in (PSY, FAMILY):
        got = wait_for(
            lambda agency=agency: deliveries(platform, agency),
            lambda got: any(
                m.get("case_id") == case_id and m.get("purpose") == "plan_line" for _, m in got
            ),
            timeout=30,
        )
        [delivered] = [
            m for _, m in got if m.get("case_id") == case_id and m.get("purpose") == "plan_line"
        ]
        assert (delivered["code"], delivered["from_agency_id"]) == ("R20", CRR)
        lines[agency] = delivered
    # An agency sees its own line only.
    seen = http.get(f"{casework(platform)}/v1/plans/{plan_id}", headers=platform.auth(PSY)).json()
    assert [line["responsible"] for line in seen["lines"]] == [PSY]

    # The psychological centre reports over NATS on its own subject; the family centre over HTTP.
    action = AgencyObligationAction(
        occurred_at=datetime.now(UTC),
        case_id=uuid.UUID(case_id),
        correlation_id=uuid.UUID(case_id),
        obligation_id=uuid.UUID(lines[PSY]["obligation_id"]),
        done_at=datetime.now(UTC),
        person_id="psc-psychologist-3",
    )
    answer(platform, PSY, "obligation_action", action)
    family = http.post(
        f"{casework(platform)}/v1/obligations/{lines[FAMILY]['obligation_id']}/actions",
        json={"done_at": datetime.now(UTC).isoformat(), "summary": "Family enrolled in support"},
        headers=platform.auth(FAMILY),
    )
    assert family.status_code == 201, family.text

    # Deadlines: R4, R8, R19 and both lines met on time.
    def met(rows: list[dict[str, Any]]) -> dict[tuple[str, str | None], dict[str, Any]]:
        return {
            (o["code"], o["actor_agency_id"]): o
            for o in rows
            if o["status"] == "met" and not o.get("target_agency_id")
        }

    wanted = {
        ("R4", SCHOOL),
        ("R8", CRR),
        ("R19", CRR),
        ("R20", CRR),
        ("R20", PSY),
        ("R20", FAMILY),
    }
    found = wait_for(
        lambda: met(deadlines_obligations(platform, http, case_id)),
        lambda got: wanted <= set(got),
        timeout=60,
    )
    for key in wanted:
        assert found[key]["on_time"] is True, found[key]
    assert found[("R4", SCHOOL)]["legal_basis"] == "Rules 38874, p.11.1"
    assert found[("R20", PSY)]["legal_basis"] == "Rules 38874, p.22, Appendix 2"
    assert found[("R20", PSY)]["met_by_agency_id"] == PSY

    # The compliance view counts them on time for each agency.
    compliance = http.get(
        f"{platform.url('deadlines')}/v1/compliance?region=KZ-75",
        headers=platform.auth(OPERATOR, "operator"),
    )
    assert compliance.status_code == 200, compliance.text
    figures = {row["agency_id"]: row for row in compliance.json()["agencies"]}
    for agency in (SCHOOL, PSY, FAMILY, CRR):
        assert figures[agency]["met_on_time"] >= 1, figures[agency]
    assert figures[PSY]["late"] == 0 and figures[FAMILY]["late"] == 0
