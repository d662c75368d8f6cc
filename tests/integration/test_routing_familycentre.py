"""Routing carries out the family centre's work on real databases: deliveries on the agency's
subject, and an admission with minor children that opens F10 (Family Centre Rules p.26)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from services.routing.handlers.familycentre import on_centre_delivery, on_person_admitted
from shared.contracts.familycentre import CentreDelivery, PersonAdmitted
from tests.integration.test_routing_handlers import NOW, Routing, make_routing

CENTRE = "kz-75-family-support-centre"


@pytest.fixture
def routing(migrated_engine: Callable[[str], Engine]) -> Routing:
    return make_routing(migrated_engine("routing"))


def admitted(case_id: uuid.UUID, minors: int) -> PersonAdmitted:
    return PersonAdmitted(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="familycentre",
        stay_id=uuid.uuid4(),
        centre_agency_id=CENTRE,
        region="KZ-75",
        admitted_at=NOW - timedelta(minutes=10),
        accompanying_minors=minors,
        basis="personal_application",
    )


def test_an_admission_with_children_opens_f10_delivered_to_police_and_guardianship(
    routing: Routing,
) -> None:
    case_id = uuid.uuid4()
    event = admitted(case_id, 2)
    on_person_admitted(event, deps=routing.deps)
    on_person_admitted(event, deps=routing.deps)  # a redelivery adds nothing
    f10 = [o for o in routing.obligations(case_id) if o.code == "F10"]
    assert sorted(o.target_agency_id for o in f10) == ["kz-75-guardianship", "kz-75-police"]
    assert {(o.actor_agency_id, o.term, o.legal_basis, o.status) for o in f10} == {
        (CENTRE, "hours:24", "Family Centre Rules 34499, p.26", "met")
    }
    police = routing.referral(case_id, "F10", "kz-75-police")
    assert police.from_agency_id == CENTRE
    delivered = routing.outbox(subject="qorgau.agency.kz-75-guardianship.referral_issued.v1")
    assert [d["code"] for d in delivered] == ["F10"]
    opened = routing.outbox(subject="qorgau.routing.obligation_opened.v1")
    assert {o["code"] for o in opened} >= {"F10"}
    assert all(o["started_at"].startswith("2026-11-20T04:50") for o in opened if o["code"] == "F10")


def test_an_admission_without_children_opens_no_f10(routing: Routing) -> None:
    case_id = uuid.uuid4()
    on_person_admitted(admitted(case_id, 0), deps=routing.deps)
    assert [o for o in routing.obligations(case_id) if o.code == "F10"] == []


@pytest.mark.parametrize(
    ("what", "purpose"),
    [("redirect", "transfer"), ("plan_line", "action"), ("shelter_referral", "transfer")],
)
def test_a_centre_delivery_reaches_the_agency_on_its_subject(
    routing: Routing, what: str, purpose: str
) -> None:
    case_id = uuid.uuid4()
    obligation_id = uuid.uuid4()
    event = CentreDelivery(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="familycentre",
        delivery_id=uuid.uuid4(),
        what=what,
        code="F5",
        legal_basis="Family Centre Rules 34499, p.16",
        obligation_id=obligation_id,
        from_agency_id=CENTRE,
        to_agency_id="kz-75-social-protection",
        region="KZ-75",
        due_on=date(2026, 12, 1),
    )
    on_centre_delivery(event, deps=routing.deps)
    on_centre_delivery(event, deps=routing.deps)
    [delivered] = routing.outbox(subject="qorgau.agency.kz-75-social-protection.referral_issued.v1")
    assert (delivered["purpose"], delivered["obligation_id"]) == (purpose, str(obligation_id))
    assert delivered["from_agency_type"] == "family_support_centre"
