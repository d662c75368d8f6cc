"""What the centre learns from routing, on real databases: routing's F8 on a centre is met by
the centre's shelter referral by its id; one routing withdrew is not; the directory follows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from services.familycentre import handlers
from shared.contracts.obligations import ObligationCancelled, ObligationOpened
from shared.contracts.routing import AgencyChanged
from tests.integration.familycentre_setup import CENTRE, NOW, SHELTER, Centre, make_centre

DONE = (NOW - timedelta(minutes=1)).isoformat()


@pytest.fixture
def centre(migrated_engine: Callable[[str], Engine]) -> Centre:
    return make_centre(migrated_engine("familycentre"))


def routing_f8(case_id: uuid.UUID) -> ObligationOpened:
    return ObligationOpened(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        obligation_id=uuid.uuid4(),
        code="F8",
        legal_basis="Family Centre Rules 34499, p.24",
        actor_agency_type="family_support_centre",
        actor_agency_id=CENTRE,
        target_agency_type="shelter",
        term="working_days:2",
        started_at=NOW - timedelta(hours=1),
        region="KZ-75",
    )


def appeal_on(centre: Centre, case_id: uuid.UUID) -> str:
    answer = centre.post(
        "/v1/appeals",
        {
            "channel": "body_or_person",
            "received_at": DONE,
            "case_id": str(case_id),
            "domestic_violence": True,
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["appeal_id"])


def refer(centre: Centre, appeal_id: str) -> None:
    answer = centre.post(
        f"/v1/appeals/{appeal_id}/shelter-referral",
        {"shelter_agency_id": SHELTER, "consent": True, "referred_at": DONE},
    )
    assert answer.status_code == 200, answer.text


def test_routings_f8_is_met_by_its_id_and_not_opened_twice(centre: Centre) -> None:
    case_id = uuid.uuid4()
    opened = routing_f8(case_id)
    handlers.on_obligation_opened(opened, deps=centre.deps)
    handlers.on_obligation_opened(opened, deps=centre.deps)
    refer(centre, appeal_on(centre, case_id))
    [met] = [e for e in centre.staged("obligation_fulfilled") if e["code"] == "F8"]
    assert met["obligation_id"] == str(opened.obligation_id)
    assert met["_subject"] == "qorgau.familycentre.obligation_fulfilled.v1"
    assert [e for e in centre.staged("obligation_opened") if e["code"] == "F8"] == []
    [delivery] = centre.staged("centre_delivery")
    assert delivery["obligation_id"] == str(opened.obligation_id)


def test_a_withdrawn_f8_is_not_met_the_centre_opens_its_own(centre: Centre) -> None:
    case_id = uuid.uuid4()
    opened = routing_f8(case_id)
    handlers.on_obligation_opened(opened, deps=centre.deps)
    handlers.on_obligation_cancelled(
        ObligationCancelled(
            occurred_at=NOW,
            case_id=case_id,
            correlation_id=case_id,
            producer="routing",
            obligation_id=opened.obligation_id,
            code="F8",
            reason="referral re-routed",
        ),
        deps=centre.deps,
    )
    refer(centre, appeal_on(centre, case_id))
    [met] = [e for e in centre.staged("obligation_fulfilled") if e["code"] == "F8"]
    assert met["obligation_id"] != str(opened.obligation_id)
    assert [e["code"] for e in centre.staged("obligation_opened")].count("F8") == 1


def test_a_deactivated_agency_can_no_longer_be_named(centre: Centre) -> None:
    handlers.on_directory_entry(
        AgencyChanged(
            occurred_at=NOW,
            correlation_id=uuid.uuid4(),
            producer="routing",
            directory_agency_id=SHELTER,
            agency_type="shelter",
            region="KZ-75",
            name_kk="",
            name_ru="",
            name_en="",
            active=False,
            changed=("active",),
        ),
        deps=centre.deps,
    )
    appeal_id = appeal_on(centre, uuid.uuid4())
    refused = centre.post(
        f"/v1/appeals/{appeal_id}/shelter-referral",
        {"shelter_agency_id": SHELTER, "consent": True, "referred_at": DONE},
    )
    assert (refused.status_code, refused.json()["detail"][0]["field"]) == (422, "shelter_agency_id")
