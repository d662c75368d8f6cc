"""The family centre's appeals on real databases: five channels, consent, F1-F4 with terms."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from services.familycentre import handlers
from services.familycentre.tables import Appeal
from shared import audit
from shared.contracts.routing import ReferralIssued, ReferralPurpose
from tests.integration.familycentre_setup import CENTRE, NOW, POLICE, SOCIAL, Centre, make_centre

RECEIVED = (NOW - timedelta(minutes=5)).isoformat()
PERSON = {"full_name": "Айгүл Серікова", "iin": "900101400123", "contacts": "+7 701 000 00 00"}


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


def appeal(centre: Centre, **extra: object) -> dict:
    body = {
        "channel": "person",
        "received_at": RECEIVED,
        "person": PERSON,
        "summary": "Қиын жағдай",
        "consent": {"given_on": "2026-11-23"},
        **extra,
    }
    answer = centre.post("/v1/appeals", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_personal_interview_without_consent_is_refused_and_changes_nothing(
    centre: Centre,
) -> None:
    answer = centre.post(
        "/v1/appeals", {"channel": "person", "received_at": RECEIVED, "person": PERSON}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "consent"
    assert centre.staged("familycentre") == []
    with Session(centre.engine) as session:
        assert session.exec(select(Appeal)).all() == []


@pytest.mark.parametrize(
    ("channel", "f1_basis", "f2_basis"),
    [
        ("person", "Family Centre Rules 34499, p.12.1, p.13", "Family Centre Rules 34499, p.13.1"),
        (
            "contact_centre_111",
            "Family Centre Rules 34499, p.12.2",
            "Family Centre Rules 34499, p.14.1",
        ),
        (
            "state_information_systems",
            "Family Centre Rules 34499, p.12.3",
            "Family Centre Rules 34499, p.14.1",
        ),
        (
            "body_or_person",
            "Family Centre Rules 34499, p.12.4",
            "Family Centre Rules 34499, p.14.1",
        ),
        ("media", "Family Centre Rules 34499, p.12.5", "Family Centre Rules 34499, p.14.1"),
    ],
)
def test_each_channel_opens_f1_met_on_receipt_f2_and_f3_with_its_clause(
    centre: Centre, channel: str, f1_basis: str, f2_basis: str
) -> None:
    extra = {} if channel == "person" else {"consent": None}
    found = appeal(centre, channel=channel, **extra)
    opened = centre.opened()
    assert set(opened) == {"F1", "F2", "F3"}
    assert opened["F1"]["legal_basis"] == f1_basis
    assert opened["F2"]["legal_basis"] == f2_basis
    assert (opened["F2"]["term"], opened["F3"]["term"]) == ("working_days:1", "working_days:3")
    assert all(
        each["_subject"] == "qorgau.familycentre.obligation_opened.v1" for each in opened.values()
    )
    assert all(each["case_id"] == found["case_id"] for each in opened.values())
    assert centre.met()["F1"]["met_at"].startswith("2026-11-23T05:00")
    [received] = centre.staged("appeal_received")
    assert received["channel"] == channel
    # No personal data in any event.
    assert all(
        "Айгүл" not in str(each) and "900101400123" not in str(each) for each in centre.staged("")
    )


def test_the_person_is_read_back_decrypted_and_the_read_is_audited(centre: Centre) -> None:
    found = appeal(centre)
    with Session(centre.engine) as session:
        stored = session.get(Appeal, found["appeal_id"])
        assert stored is not None and "Айгүл" not in (stored.person or "")
    other = centre.get(f"/v1/appeals/{found['appeal_id']}/personal", agency_id=POLICE)
    assert other.status_code == 403
    read = centre.get(f"/v1/appeals/{found['appeal_id']}/personal")
    assert read.status_code == 200
    assert read.json()["person"]["iin"] == "900101400123"
    with Session(centre.engine) as session:
        entries = audit.entries(session, case_id=found["case_id"])
    assert [(e.action, e.outcome) for e in entries] == [
        ("appeal.read_personal", audit.ALLOWED),
    ]


def test_a_threat_to_life_shortens_f3_to_one_working_day_and_opens_f7(centre: Centre) -> None:
    appeal(centre, channel="contact_centre_111", consent=None, threat_to_life=True)
    opened = centre.opened()
    assert opened["F3"]["term"] == "working_days:1"
    assert (opened["F7"]["term"], opened["F7"]["legal_basis"]) == (
        "immediate",
        "Family Centre Rules 34499, p.22",
    )


def test_first_response_redirect_assessment_and_needs_meet_f2_f3_f4_and_open_f5(
    centre: Centre,
) -> None:
    found = appeal(centre)
    path = f"/v1/appeals/{found['appeal_id']}"
    done = (NOW - timedelta(minutes=1)).isoformat()
    nowhere = centre.post(f"{path}/first-response", {"kind": "redirect", "done_at": done})
    assert (nowhere.status_code, nowhere.json()["detail"][0]["field"]) == (
        422,
        "redirect_to_agency_id",
    )
    unknown = centre.post(
        f"{path}/first-response",
        {"kind": "redirect", "redirect_to_agency_id": "kz-75-nobody", "done_at": done},
    )
    assert unknown.status_code == 422
    response = centre.post(
        f"{path}/first-response",
        {"kind": "consultation_and_redirect", "redirect_to_agency_id": SOCIAL, "done_at": done},
    )
    assert response.status_code == 200, response.text
    [delivery] = centre.staged("centre_delivery")
    assert (delivery["what"], delivery["to_agency_id"], delivery["code"]) == (
        "redirect",
        SOCIAL,
        "F2",
    )
    assert centre.met()["F2"]["met_by_agency_id"] == CENTRE
    again = centre.post(f"{path}/first-response", {"kind": "consultation", "done_at": done})
    assert again.status_code == 409

    early_needs = centre.post(f"{path}/needs", {"needs": {"social": "housing"}, "done_at": done})
    assert early_needs.status_code == 409
    assessed = centre.post(
        f"{path}/assessment",
        {"difficult_situation": True, "findings": "no income", "done_at": done},
    )
    assert assessed.status_code == 200, assessed.text
    assert centre.met()["F3"]["code"] == "F3"
    assert centre.opened()["F4"]["legal_basis"] == "Family Centre Rules 34499, p.13.3"
    needs = centre.post(f"{path}/needs", {"needs": {"social": "housing"}, "done_at": done})
    assert needs.status_code == 200
    assert needs.json()["stage"] == "needs_determined"
    assert "F4" in centre.met()
    assert (centre.opened()["F5"]["term"], centre.opened()["F5"]["legal_basis"]) == (
        "months:12",
        "Family Centre Rules 34499, p.15-17",
    )


def test_a_threat_needs_emergency_measures_in_the_assessment(centre: Centre) -> None:
    found = appeal(centre, threat_to_life=True)
    path = f"/v1/appeals/{found['appeal_id']}/assessment"
    done = (NOW - timedelta(minutes=1)).isoformat()
    bare = centre.post(path, {"difficult_situation": True, "findings": "x", "done_at": done})
    assert (bare.status_code, bare.json()["detail"][0]["field"]) == (422, "emergency_measures")
    ok = centre.post(
        path,
        {
            "difficult_situation": True,
            "findings": "x",
            "emergency_measures": ["stay"],
            "done_at": done,
        },
    )
    assert ok.status_code == 200


def test_a_referral_routed_to_the_centre_arrives_as_an_appeal_from_a_body(centre: Centre) -> None:
    case_id = uuid.uuid4()
    referral = ReferralIssued(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        referral_id=uuid.uuid4(),
        code="R13",
        legal_basis="Rules 38874, p.21",
        from_agency_type="child_rights_regional",
        from_agency_id="kz-75-child-rights-regional",
        to_agency_type="family_support_centre",
        to_agency_id=CENTRE,
        region="KZ-75",
        issued_at=NOW - timedelta(minutes=2),
        purpose=ReferralPurpose.TRANSFER,
    )
    handlers.on_referral_issued(referral, deps=centre.deps)
    handlers.on_referral_issued(referral, deps=centre.deps)  # a redelivery adds nothing
    [found] = centre.get("/v1/appeals").json()["appeals"]
    assert (found["case_id"], found["channel"]) == (str(case_id), "body_or_person")
    assert found["legal_basis"] == "Family Centre Rules 34499, p.12.4"
    assert len(centre.staged("obligation_opened")) == 3
    assert centre.opened()["F1"]["started_at"].startswith("2026-11-23T04:58")
