"""Routing passes a full shelter over (Standard 14701 p.25, Family Centre Rules p.24): it keeps
each shelter's free places from `capacity_changed` (read from the real bus) and delivers a
referral to a shelter with room in the region, or escalates when none has room."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from services.routing import handlers, subscribers
from services.routing.api import AgencyIn
from services.routing.handlers import on_report_received
from services.routing.handlers.familycentre import on_centre_delivery
from services.routing.handlers.shelter_places import on_capacity_changed
from services.routing.tables import ShelterPlaces
from shared.bus import make_broker
from shared.contracts.familycentre import CentreDelivery
from shared.contracts.shelter import CapacityChanged
from shared.db import unit_of_work
from shared.natsserver import NatsServer
from tests.integration.test_routing_handlers import NOW, POLICE, Routing, make_routing, report
from tests.waiting import eventually

CENTRE = "kz-75-family-support-centre"
FIRST = "kz-75-shelter"
SECOND = "kz-75-shelter-2"


@pytest.fixture
def routing(migrated_engine: Callable[[str], Engine]) -> Routing:
    routing = make_routing(migrated_engine("routing"))
    handlers.register_agency(
        AgencyIn(
            agency_id=SECOND,
            agency_type="shelter",
            region="KZ-75",
            name_kk="дағдарыс орталығы 2",
            name_ru="кризисный центр 2",
            name_en="Crisis centre 2",
        ),
        deps=routing.deps,
    )
    return routing


def capacity(shelter: str, free: int | None, *, minutes: int = 0) -> CapacityChanged:
    case_id = uuid.uuid4()
    return CapacityChanged(
        occurred_at=NOW + timedelta(minutes=minutes),
        case_id=case_id,
        correlation_id=case_id,
        producer="shelter",
        shelter_agency_id=shelter,
        region="KZ-75",
        beds=None if free is None else 10,
        occupied=10 - (free or 0),
        children=0,
        free=free,
    )


def shelter_referral(to: str = FIRST) -> CentreDelivery:
    case_id = uuid.uuid4()
    return CentreDelivery(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="familycentre",
        delivery_id=uuid.uuid4(),
        what="shelter_referral",
        code="F8",
        legal_basis="Family Centre Rules 34499, p.24",
        obligation_id=uuid.uuid4(),
        from_agency_id=CENTRE,
        to_agency_id=to,
        region="KZ-75",
        due_on=date(2026, 12, 1),
    )


def delivered_to(routing: Routing, event: CentreDelivery) -> list[tuple[str, str]]:
    return [(r.to_agency_id, r.purpose) for r in routing.referrals(event.case_id)]


def places(routing: Routing, shelter: str) -> ShelterPlaces | None:
    with unit_of_work(routing.engine) as session:
        row = session.get(ShelterPlaces, shelter)
        session.expunge_all()
        return row


def test_a_shelter_with_room_or_unreported_keeps_the_referral(routing: Routing) -> None:
    on_capacity_changed(capacity(FIRST, 2), deps=routing.deps)
    event = shelter_referral()
    on_centre_delivery(event, deps=routing.deps)
    assert delivered_to(routing, event) == [(FIRST, "transfer")]


def test_a_full_shelter_is_passed_over_for_one_with_room_in_the_region(routing: Routing) -> None:
    on_capacity_changed(capacity(FIRST, 0), deps=routing.deps)
    on_capacity_changed(capacity(SECOND, 3), deps=routing.deps)
    event = shelter_referral()
    on_centre_delivery(event, deps=routing.deps)
    on_centre_delivery(event, deps=routing.deps)  # a redelivery adds nothing
    assert delivered_to(routing, event) == [(SECOND, "transfer")]
    [issued] = routing.outbox(subject=f"qorgau.agency.{SECOND}.referral_issued.v1")
    assert (issued["code"], issued["legal_basis"]) == ("F8", "Family Centre Rules 34499, p.24")
    assert routing.outbox(subject=f"qorgau.agency.{FIRST}.referral_issued.v1") == []


def test_when_no_shelter_has_room_the_referral_is_escalated_and_said(routing: Routing) -> None:
    on_capacity_changed(capacity(FIRST, 0), deps=routing.deps)
    on_capacity_changed(capacity(SECOND, 0), deps=routing.deps)
    event = shelter_referral()
    on_centre_delivery(event, deps=routing.deps)
    [(to, purpose)] = delivered_to(routing, event)
    assert purpose == "escalation" and to not in {FIRST, SECOND}
    [escalated] = routing.outbox(subject="qorgau.routing.referral_escalated.v1")
    assert (escalated["cause"], escalated["unresolved_agency_type"], escalated["to_agency_id"]) == (
        "no_capacity",
        "shelter",
        to,
    )


def test_an_older_report_changes_nothing(routing: Routing) -> None:
    on_capacity_changed(capacity(FIRST, 0, minutes=5), deps=routing.deps)
    on_capacity_changed(capacity(FIRST, 4, minutes=1), deps=routing.deps)
    row = places(routing, FIRST)
    assert row is not None and row.free == 0


async def test_capacity_changed_over_nats_makes_routing_pass_the_full_shelter_over(
    routing: Routing, nats_restartable: NatsServer
) -> None:
    broker = make_broker(nats_restartable.url, service="routing")
    subscribers.register(broker, routing.deps)
    await broker.start()
    try:
        full = capacity(FIRST, 0)
        await broker.publish(
            full.model_dump(mode="json"),
            CapacityChanged.subject(),
            headers={"Nats-Msg-Id": str(full.event_id)},
            stream="SHELTER",
        )
        row = await eventually(lambda: places(routing, FIRST), "the capacity to be kept")
        assert row is not None and (row.free, row.beds) == (0, 10)
    finally:
        await broker.stop()
    event = shelter_referral()
    on_centre_delivery(event, deps=routing.deps)
    assert delivered_to(routing, event) == [(SECOND, "transfer")]


def test_a_police_s1_referral_passes_a_full_shelter_over(routing: Routing) -> None:
    on_capacity_changed(capacity(FIRST, 0), deps=routing.deps)
    on_capacity_changed(capacity(SECOND, 1), deps=routing.deps)
    event = report(
        reporter=("police", POLICE), concerns=("domestic_violence",), subject_kind="adult"
    )
    on_report_received(event, deps=routing.deps)
    [s1] = [o for o in routing.obligations(event.case_id) if o.code == "S1"]
    referral = handlers.refer(s1.obligation_id, POLICE, deps=routing.deps, consent=True)
    assert (referral.to_agency_id, referral.purpose, referral.code) == (SECOND, "transfer", "S1")
    assert referral.legal_basis.startswith("Standard 14701")
