"""Casework on a real nats-server: routing's events in, agencies' actions over NATS, events out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from services.casework import repository, subscribers
from services.routing import subscribers as routing_subscribers
from shared.bus import make_broker
from shared.contracts.casework import AgencyObligationAction, PlanLineAssigned
from shared.db import unit_of_work
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, pending_count
from tests.bus_helpers import publish_events, read_payloads
from tests.integration.casework_setup import (
    CRR,
    NOW,
    POLICE,
    PSY,
    SCHOOL,
    make_casework,
    opened,
)
from tests.integration.test_routing_handlers import make_routing
from tests.waiting import eventually


async def on_subject(url: str, stream: str, subject: str) -> list[dict[str, Any]]:
    return [payload for _, payload in await read_payloads(url, stream, subject=subject)]


async def test_an_agency_records_its_duty_over_nats_and_a_stranger_is_refused_on_its_subject(
    migrated_engine: Callable[[str], Engine], nats_server: NatsServer
) -> None:
    url = nats_server.url
    casework = make_casework(migrated_engine("casework"))
    broker = make_broker(url, service="casework")
    subscribers.register(broker, casework.deps)
    relay = OutboxRelay(engine=casework.engine, publisher=broker, clock=casework.clock)

    async def relayed() -> bool:
        await relay.relay_once()
        return pending_count(casework.engine) == 0

    def known(obligation_id: uuid.UUID) -> str | None:
        with unit_of_work(casework.engine) as session:
            row = repository.get_obligation(session, obligation_id=str(obligation_id))
            return row.status if row else None

    await broker.start()
    try:
        case_id = uuid.uuid4()
        r4 = opened(case_id, "R4", SCHOOL, legal_basis="Rules 38874, p.11.1")
        await publish_events(url, r4, subject="qorgau.routing.obligation_opened.v1")
        await eventually(lambda: known(r4.obligation_id), "casework to learn of R4")

        def action(**fields: Any) -> AgencyObligationAction:
            return AgencyObligationAction(
                occurred_at=NOW,
                case_id=case_id,
                correlation_id=case_id,
                obligation_id=r4.obligation_id,
                done_at=NOW - timedelta(minutes=20),
                person_id="school-staff-0042",
                **fields,
            )

        stranger = action(evidence={"notice_number": "9", "notice_date": "2026-11-23"})
        await publish_events(url, stranger, subject=f"qorgau.agency.{POLICE}.obligation_action.v1")
        rejected = await eventually(
            lambda: casework.staged(f"qorgau.agency.{POLICE}.obligation_action_rejected"),
            "the stranger's action to be refused",
        )
        assert rejected[0]["problem"] == "not_actor"
        no_proof = action()
        await publish_events(url, no_proof, subject=f"qorgau.agency.{SCHOOL}.obligation_action.v1")
        refused = await eventually(
            lambda: casework.staged(f"qorgau.agency.{SCHOOL}.obligation_action_rejected"),
            "the action without its notice to be refused",
        )
        assert (refused[0]["problem"], refused[0]["field"]) == ("invalid", "evidence.notice_number")

        done = action(evidence={"notice_number": "17", "notice_date": "2026-11-23"})
        # Published twice, as an agency's system might: recorded once.
        await publish_events(
            url, done, done, subject=f"qorgau.agency.{SCHOOL}.obligation_action.v1"
        )
        await eventually(lambda: known(r4.obligation_id) == "met", "R4 to be met by the action")
        await eventually(relayed, "casework's outbox to be published")
        # The server outlives this test: read only this case's events.
        [met] = [
            each
            for each in await on_subject(url, "CASEWORK", "qorgau.casework.obligation_fulfilled.v1")
            if each["case_id"] == str(case_id)
        ]
        assert met["obligation_id"] == str(r4.obligation_id)
        assert met["met_by_agency_id"] == SCHOOL and met["producer"] == "casework"
        delivered = await on_subject(
            url, "AGENCY", f"qorgau.agency.{SCHOOL}.obligation_action_rejected.v1"
        )
        mine = [each for each in delivered if each["case_id"] == str(case_id)]
        assert [each["field"] for each in mine] == ["evidence.notice_number"]
        assert len(casework.staged("obligation_action_recorded")) == 1
    finally:
        await broker.stop()


async def test_routing_delivers_a_plan_line_on_the_agencys_subject(
    migrated_engine: Callable[[str], Engine], nats_server: NatsServer
) -> None:
    url = nats_server.url
    routing = make_routing(migrated_engine("routing"))
    broker = make_broker(url, service="routing")
    routing_subscribers.register(broker, routing.deps)
    relay = OutboxRelay(engine=routing.engine, publisher=broker, clock=routing.clock)

    async def relayed() -> bool:
        await relay.relay_once()
        return pending_count(routing.engine) == 0

    await broker.start()
    try:
        case_id, obligation_id = uuid.uuid4(), uuid.uuid4()
        line = PlanLineAssigned(
            occurred_at=NOW,
            case_id=case_id,
            correlation_id=case_id,
            producer="casework",
            plan_id=uuid.uuid4(),
            line_id=uuid.uuid4(),
            obligation_id=obligation_id,
            code="R20",
            legal_basis="Rules 38874, p.22, Appendix 2",
            kind="psychological",
            from_agency_id=CRR,
            to_agency_id=PSY,
            to_agency_type="psych_support_centre",
            region="KZ-75",
            due_on=date(2026, 12, 7),
        )
        await publish_events(url, line, line)
        await eventually(lambda: routing.referrals(case_id), "routing to deliver the line")
        await eventually(relayed, "routing's outbox to be published")
        [delivered] = [
            each
            for each in await on_subject(url, "AGENCY", f"qorgau.agency.{PSY}.referral_issued.v1")
            if each["case_id"] == str(case_id)
        ]
        assert delivered["purpose"] == "plan_line"
        assert delivered["obligation_id"] == str(obligation_id)
        assert (delivered["code"], delivered["legal_basis"]) == (
            "R20",
            "Rules 38874, p.22, Appendix 2",
        )
        assert delivered["from_agency_id"] == CRR
    finally:
        await broker.stop()
