"""A shelter stay end to end, through real processes (`qorgau up`).

A woman applies to the Almaty crisis centre with her daughter: the shelter opens S2, S3 and S4
(Standard 14701 p.13, p.15, p.28) and reports the child to intake, which opens the child's case
as a minor who witnessed violence. She is screened, given the general services, identified with
the police, a social worker and a psychologist and recognised; the sheet goes to social
protection (S5), which decides (S7) and sends its decision back (S8) with its own token; the
contract follows (S9). Deadlines shows every one of those rows met on time. A second test
follows a police referral (S1, routing) to the shelter's door.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from shared.clock import ALMATY
from tests.e2e.conftest import Platform
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

SHELTER = "kz-75-shelter"
SOCIAL = "kz-75-social-protection"
POLICE = "kz-75-police"
MET_ON_TIME = ("S2", "S3", "S4", "S5", "S7", "S8", "S9")


def now() -> str:
    return datetime.now(UTC).isoformat()


def case_obligations(
    platform: Platform, http: httpx.Client, case_id: str, who: str = SHELTER
) -> list[dict[str, Any]]:
    headers = platform.auth("kz-child-rights-national", "operator") if who == "operator" else None
    answer = http.get(
        f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations",
        headers=headers or platform.auth(who),
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["obligations"]
    return rows


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # The duties themselves; an escalation of a breach carries the breached row's code too.
    return {row["code"]: row for row in rows if not row.get("escalates_obligation_id")}


def step(
    platform: Platform, http: httpx.Client, path: str, body: dict[str, Any], who: str = SHELTER
) -> dict[str, Any]:
    agency, _, role = who.partition(":")
    answer = http.post(
        f"{platform.url('shelter')}{path}",
        json=body,
        headers=platform.auth(agency, role or "caseworker"),
    )
    assert answer.status_code in (200, 201), answer.text
    done: dict[str, Any] = answer.json()
    return done


def through_contract(platform: Platform, http: httpx.Client, stay_id: str) -> None:
    """Screen, give the general services, identify, send, decide, send back, sign."""
    base = f"/v1/stays/{stay_id}"
    step(platform, http, f"{base}/screening", {"screened_at": now()})
    services = ["accommodation_meals", "first_medical_check", "self_care_hygiene"]
    services.append("bed_clothes_necessities")
    step(platform, http, f"{base}/general-services", {"given_at": now(), "services": services})
    step(platform, http, f"{base}/identification", sheet())
    step(platform, http, f"{base}/sheet/send", {"sent_at": now()})
    step(platform, http, f"{base}/decision", {"decision": "granted", "decided_at": now()}, SOCIAL)
    step(platform, http, f"{base}/decision/send", {"sent_at": now()}, SOCIAL)
    step(platform, http, f"{base}/contract", {"signed_at": now()})


def sheet() -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    return {
        "interviewed_at": now(),
        "criteria": {"1.1": True, "2.1": True, "3.2": False},
        "conclusion": "recognised",
        "participants": {"police": "pol-7", "social_worker": "sw-2", "psychologist": "psy-3"},
        "signatures": [
            {
                "role": role,
                "person_id": f"p-{role}",
                "name": f"Signatory {role}",
                "position": "officer",
                "signed_on": today,
            }
            for role in ("shelter_specialist", "social_protection", "police")
        ],
    }


def test_an_application_is_identified_decided_and_contracted_all_on_time(
    platform: Platform, http: httpx.Client
) -> None:
    shelter = platform.url("shelter")
    arrived = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    no_consent = http.post(
        f"{shelter}/v1/stays",
        json={
            "arrival": "application",
            "arrived_at": arrived,
            "person": {"full_name": "Aigerim Serikova"},
        },
        headers=platform.auth(SHELTER),
    )
    assert no_consent.status_code == 422 and no_consent.json()["detail"][0]["field"] == "consent"

    stay = step(
        platform,
        http,
        "/v1/stays",
        {
            "arrival": "application",
            "arrived_at": arrived,
            "consent": True,
            "person": {"full_name": "Aigerim Serikova", "iin": "900101400013", "sex": "female"},
            "children": [{"full_name": "Aliya Serikova", "birth_date": "2017-03-01"}],
        },
    )
    stay_id, case_id = stay["stay_id"], stay["case_id"]
    assert {row["code"] for row in stay["obligations"]} == {"S2", "S3", "S4"}
    assert len(stay["children"]) == 1

    # Deadlines counts the shelter's rows: S4 is due at 24:00 of the next working day.
    opened = wait_for(
        lambda: by_code(case_obligations(platform, http, case_id)),
        lambda rows: {"S2", "S3", "S4"} <= set(rows),
        timeout=30,
    )
    assert opened["S4"]["term"] == "working_days:1" and opened["S4"]["due_at"] is not None
    assert opened["S4"]["legal_basis"] == "Standard 14701, p.28-29"

    # The daughter reaches intake as a minor who witnessed violence, linked to her mother.
    reported = wait_for(
        lambda: http.get(f"{shelter}/v1/stays/{stay_id}", headers=platform.auth(SHELTER)).json(),
        lambda view: view.get("intake_case_id") is not None,
        timeout=30,
    )
    operator = platform.auth("kz-child-rights-national", "operator")
    adult = http.get(
        f"{platform.url('intake')}/v1/cases/{reported['intake_case_id']}", headers=operator
    ).json()
    assert adult["subject_kind"] == "adult"
    assert len(adult["linked_cases"]) == 1
    # The daughter's own stay carries the case intake opened for her.
    assert [child["case_id"] for child in reported["children"]] == [
        adult["linked_cases"][0]["case_id"]
    ]
    assert reported["person"]["full_name"] == "Aigerim Serikova"

    step(platform, http, f"/v1/stays/{stay_id}/screening", {"screened_at": now()})
    step(
        platform,
        http,
        f"/v1/stays/{stay_id}/general-services",
        {
            "given_at": now(),
            "services": [
                "accommodation_meals",
                "first_medical_check",
                "self_care_hygiene",
                "bed_clothes_necessities",
            ],
        },
    )
    recognised = step(platform, http, f"/v1/stays/{stay_id}/identification", sheet())
    assert recognised["status"] == "recognised"
    step(platform, http, f"/v1/stays/{stay_id}/sheet/send", {"sent_at": now()})

    # Only social protection decides, with its own token; the shelter's is refused.
    refused = http.post(
        f"{shelter}/v1/stays/{stay_id}/decision",
        json={"decision": "granted", "decided_at": now()},
        headers=platform.auth(SHELTER),
    )
    assert refused.status_code == 403
    step(
        platform,
        http,
        f"/v1/stays/{stay_id}/decision",
        {"decision": "granted", "decided_at": now(), "number": "17"},
        who=SOCIAL,
    )
    # Social protection reads the sheet p.30 sends it, and nothing of the children.
    seen = http.get(f"{shelter}/v1/stays/{stay_id}", headers=platform.auth(SOCIAL)).json()
    assert [s["kind"] for s in seen["steps"]] == ["identification", "sheet_sent", "decision"]
    assert seen["children"] == []
    step(platform, http, f"/v1/stays/{stay_id}/decision/send", {"sent_at": now()}, who=SOCIAL)
    contracted = step(
        platform, http, f"/v1/stays/{stay_id}/contract", {"signed_at": now(), "number": "C-1"}
    )
    assert contracted["status"] == "contracted"

    # The contract's openings (S10, S13) and the fulfilments before it reach deadlines on
    # consumers of their own: wait for both, not for the fulfilments alone.
    rows = wait_for(
        lambda: by_code(case_obligations(platform, http, case_id)),
        lambda rows: (
            all(rows.get(code, {}).get("status") == "met" for code in MET_ON_TIME)
            and all(code in rows for code in ("S10", "S13"))
        ),
        timeout=30,
    )
    for code in MET_ON_TIME:
        assert rows[code]["on_time"] is True, rows[code]
    assert (rows["S7"]["actor_agency_id"], rows["S7"]["met_by_agency_id"]) == (SOCIAL, SOCIAL)
    assert rows["S10"]["status"] == "open" and rows["S13"]["status"] == "open"

    # The sheet prints (Appendix 5), for social protection too, which it was sent to (p.30).
    printed = http.get(
        f"{shelter}/v1/stays/{stay_id}/documents/assessment-sheet",
        params={"lang": "ru", "format": "pdf"},
        headers=platform.auth(SOCIAL),
        # The first print loads pango and may build the font cache.
        timeout=90,
    )
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF")

    # Every read of the person's data is on the shelter's audit log.
    audit = http.get(f"{shelter}/v1/audit", params={"case_id": case_id}, headers=operator)
    assert audit.status_code == 200, audit.text
    reads = [entry for entry in audit.json()["entries"] if entry["action"] == "stay.read"]
    assert {entry["agency_id"] for entry in reads} >= {SHELTER, SOCIAL}


def test_a_police_referral_reaches_the_shelter_and_becomes_a_stay(
    platform: Platform, http: httpx.Client
) -> None:
    report = {
        "reporter": {"agency_type": "police", "agency_id": POLICE, "region": "KZ-75"},
        "channel": "duties",
        "received_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "subject": {"kind": "adult", "full_name": "Saule Omarova", "sex": "female"},
        "concerns": ["domestic_violence"],
    }
    posted = http.post(f"{platform.url('intake')}/v1/reports", json=report)
    assert posted.status_code == 201, posted.text
    case_id = posted.json()["case_id"]
    routing = platform.url("routing")
    s1 = wait_for(
        lambda: [
            row
            for row in http.get(
                f"{routing}/v1/cases/{case_id}/routing-obligations", headers=platform.auth(POLICE)
            ).json()["obligations"]
            if row["code"] == "S1"
        ],
        bool,
        timeout=30,
    )[0]
    referred = http.post(
        f"{routing}/v1/obligations/{s1['obligation_id']}/refer",
        json={"consent": True},
        headers=platform.auth(POLICE),
    )
    assert referred.status_code == 201, referred.text
    waiting = wait_for(
        lambda: http.get(
            f"{platform.url('shelter')}/v1/referrals", headers=platform.auth(SHELTER)
        ).json()["referrals"],
        lambda found: any(r["case_id"] == case_id for r in found),
        timeout=30,
    )
    [referral] = [r for r in waiting if r["case_id"] == case_id]
    assert (referral["code"], referral["from_agency_type"]) == ("S1", "police")
    stay = step(
        platform,
        http,
        "/v1/stays",
        {
            "arrival": "referral",
            "referral_id": referral["referral_id"],
            "arrived_at": now(),
            "person": {"full_name": "Saule Omarova"},
        },
    )
    assert stay["case_id"] == case_id and stay["referred_by_type"] == "police"
    # The police's case: an operator reads it (the shelter relates once its rows arrive).
    rows = wait_for(
        lambda: by_code(case_obligations(platform, http, case_id, who="operator")),
        lambda rows: {"S1", "S2", "S3", "S4"} <= set(rows),
        timeout=30,
    )
    assert rows["S1"]["status"] == "met" and rows["S4"]["status"] == "open"
    stay_id = stay["stay_id"]
    through_contract(platform, http, stay_id)

    # Under the contract: card and portal entry (S11), needs (S13), plan approved (S14, S15).
    base = f"/v1/stays/{stay_id}"
    step(platform, http, f"{base}/registration-card", {"filled_at": now(), "full_name": "Saule"})
    step(platform, http, f"{base}/portal-entry", {"entered_at": now(), "reference": "P-77"})
    step(
        platform,
        http,
        f"{base}/needs-assessment",
        {"assessed_at": now(), "needs": ["social_psychological", "social_legal"]},
    )
    today = datetime.now(ALMATY).date()
    plan = {
        "period_start": today.isoformat(),
        "period_end": (today + timedelta(days=150)).isoformat(),
        "assessed_from": today.isoformat(),
        "assessed_to": today.isoformat(),
        "lines": [
            {
                "line_id": "l1",
                "kind": "social_psychological",
                "activity": "counselling, weekly",
                "assigned_on": today.isoformat(),
                "due_on": (today + timedelta(days=60)).isoformat(),
                "assigned_by": "psy-3",
            }
        ],
    }
    answer = http.put(
        f"{platform.url('shelter')}{base}/plan", json=plan, headers=platform.auth(SHELTER)
    )
    assert answer.status_code == 200, answer.text
    step(platform, http, f"{base}/plan/approve", {"approved_at": now()}, who=f"{SHELTER}:head")

    # Away without notice for 80 hours: expelled by the head's order (p.37.2, p.38); back with
    # a good reason (detained by the police), re-admitted at once.
    ended = step(
        platform,
        http,
        f"{base}/departure",
        {"ground": "absence", "ended_at": now(), "absent_hours": 80, "returned": ["documents"]},
        who=f"{SHELTER}:head",
    )
    assert ended["status"] == "ended"
    back = step(
        platform, http, f"{base}/return", {"returned_at": now(), "reason": "police_detention"}
    )
    assert back["status"] == "contracted"

    done = ("S2", "S3", "S4", "S5", "S7", "S8", "S9", "S11", "S13")

    def plans(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(
            (r for r in found if r["code"] == "S14" and not r.get("escalates_obligation_id")),
            key=lambda r: r["started_at"],
        )

    def settled(found: list[dict[str, Any]]) -> bool:
        duties = by_code(found)
        # S10 twice: met when the stay ended, open again from the signing on re-admission.
        contract = sorted(row["status"] for row in found if row["code"] == "S10")
        met = all(duties.get(code, {}).get("status") == "met" for code in done)
        # S14 twice: the plan (met), and the next plan owed within one working day of this
        # one's end (p.17), withdrawn when the stay ended.
        owed = [(r["term"], r["status"]) for r in plans(found)]
        wanted = [("working_days:3", "met"), ("working_days:1", "cancelled")]
        return met and contract == ["met", "open"] and owed == wanted

    found = wait_for(
        lambda: case_obligations(platform, http, case_id, who="operator"), settled, timeout=30
    )
    rows = by_code(found)
    for code in done:
        assert rows[code]["on_time"] is True, rows[code]
    assert plans(found)[0]["on_time"] is True
    assert rows["S15"]["status"] == "cancelled"


def test_social_protection_late_breaches_s7_and_the_escalation_reaches_the_prosecutor(
    platform: Platform, http: httpx.Client
) -> None:
    # Recorded after the fact: the sheet went to social protection on a Monday two weeks ago,
    # so its three working days (p.31) are long past when the shelter records it.
    today = datetime.now(ALMATY).date()
    monday = today - timedelta(days=14 + today.weekday())
    arrived = datetime.combine(monday, time(10, 0), tzinfo=ALMATY)
    shelter = platform.url("shelter")
    stay = step(
        platform,
        http,
        "/v1/stays",
        {
            "arrival": "application",
            "arrived_at": arrived.isoformat(),
            "consent": True,
            "person": {"full_name": "Gulnara Akhmetova"},
        },
    )
    stay_id, case_id = stay["stay_id"], stay["case_id"]
    at = (arrived + timedelta(minutes=5)).isoformat()
    step(platform, http, f"/v1/stays/{stay_id}/screening", {"screened_at": at})
    late_sheet = sheet()
    late_sheet["interviewed_at"] = (arrived + timedelta(hours=1)).isoformat()
    for signature in late_sheet["signatures"]:
        signature["signed_on"] = monday.isoformat()
    step(platform, http, f"/v1/stays/{stay_id}/identification", late_sheet)
    sent = (arrived + timedelta(hours=2)).isoformat()
    step(platform, http, f"/v1/stays/{stay_id}/sheet/send", {"sent_at": sent})

    def s7_escalated(found: list[dict[str, Any]]) -> bool:
        s7 = by_code(found).get("S7")
        return s7 is not None and any(
            row["escalates_obligation_id"] == s7["obligation_id"] for row in found
        )

    rows = wait_for(
        lambda: case_obligations(platform, http, case_id, who="operator"),
        s7_escalated,
        timeout=60,
    )
    s7 = by_code(rows)["S7"]
    assert s7["status"] == "breached" and s7["actor_agency_id"] == SOCIAL
    [escalation] = [row for row in rows if row["escalates_obligation_id"] == s7["obligation_id"]]
    assert escalation["actor_agency_type"] == "prosecutor"
    assert escalation["legal_basis"] == "Standard 14701, p.31"
    assert by_code(rows)["S5"]["on_time"] is True

    # Routing delivers the escalation to the region's prosecutor's office.
    prosecutor = "kz-75-prosecutor"
    inbox = wait_for(
        lambda: http.get(
            f"{platform.url('routing')}/v1/agencies/{prosecutor}/inbox",
            headers=platform.auth(prosecutor),
        ).json()["referrals"],
        lambda found: any(r["case_id"] == case_id and r["purpose"] == "escalation" for r in found),
        timeout=60,
    )
    assert any(r["case_id"] == case_id for r in inbox)

    # Social protection decides late: S7 is met, not on time.
    step(
        platform,
        http,
        f"/v1/stays/{stay_id}/decision",
        {"decision": "granted", "decided_at": now()},
        who=SOCIAL,
    )
    met = wait_for(
        lambda: by_code(case_obligations(platform, http, case_id, who="operator")),
        lambda found: found["S7"]["met_at"] is not None,
        timeout=30,
    )
    assert met["S7"]["on_time"] is False
    assert (
        http.get(f"{shelter}/v1/stays/{stay_id}", headers=platform.auth(SOCIAL)).status_code == 200
    )
