"""Routing on a real nats-server: a report in, referrals out on agency subjects, answers back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from services.routing import subscribers
from shared.bus import make_broker
from shared.contracts.routing import AgencyAcknowledgement, AgencyDecline
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, pending_count
from tests.bus_helpers import publish_events, read_payloads
from tests.integration.test_routing_handlers import (
    NOW,
    POLICE,
    PROSECUTOR,
    Routing,
    make_routing,
    report,
)
from tests.waiting import eventually


async def on_subject(url: str, subject: str) -> list[dict[str, Any]]:
    """Every message the AGENCY stream holds on one subject, as an agency's system reads it."""
    return [payload for _, payload in await read_payloads(url, "AGENCY", subject=subject)]


async def test_a_decline_over_nats_is_escalated_and_delivered_on_the_new_agency_subject(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    routing: Routing = make_routing(migrated_engine("routing"))
    broker = make_broker(url, service="routing")
    subscribers.register(broker, routing.deps)
    relay = OutboxRelay(engine=routing.engine, publisher=broker, clock=routing.clock)

    async def relayed() -> bool:
        await relay.relay_once()
        return pending_count(routing.engine) == 0

    await broker.start()
    try:
        event = report()
        await broker.publish(
            event.model_dump(mode="json"),
            "qorgau.intake.report_received.v1",
            headers={"Nats-Msg-Id": str(event.event_id)},
            stream="INTAKE",
        )
        await eventually(lambda: routing.referrals(event.case_id), "the report to be routed")
        await eventually(relayed, "the outbox to be published")
        police = routing.referral(event.case_id, "R1", POLICE)
        delivered = await on_subject(url, f"qorgau.agency.{POLICE}.referral_issued.v1")
        assert police.referral_id in {m["referral_id"] for m in delivered}

        decline = AgencyDecline(
            occurred_at=NOW,
            case_id=event.case_id,
            correlation_id=event.correlation_id,
            referral_id=uuid.UUID(police.referral_id),
            reason="not_competent",
        )
        subject = f"qorgau.agency.{POLICE}.referral_declined.v1"
        # Published twice, as an agency's system might: JetStream drops the copy, and the
        # inbox would skip it anyway.
        await publish_events(url, decline, decline, subject=subject)

        declined = await eventually(
            lambda: [r for r in routing.referrals(event.case_id) if r.status == "escalated"],
            "the decline to be applied",
        )
        assert [r.referral_id for r in declined] == [police.referral_id]
        await eventually(relayed, "the escalation to be published")
        escalation = routing.referral(event.case_id, "R1", PROSECUTOR)
        on_prosecutor = await on_subject(url, f"qorgau.agency.{PROSECUTOR}.referral_issued.v1")
        assert [
            (m["referral_id"], m["purpose"], m["replaces_referral_id"]) for m in on_prosecutor
        ] == [(escalation.referral_id, "escalation", police.referral_id)]

        acknowledgement = AgencyAcknowledgement(
            occurred_at=NOW,
            case_id=event.case_id,
            correlation_id=event.correlation_id,
            referral_id=uuid.UUID(escalation.referral_id),
        )
        await publish_events(
            url, acknowledgement, subject=f"qorgau.agency.{PROSECUTOR}.referral_acknowledged.v1"
        )
        await eventually(
            lambda: routing.referral(event.case_id, "R1", PROSECUTOR).status == "acknowledged",
            "the acknowledgement to be applied",
        )
        assert routing.referral(event.case_id, "R1", PROSECUTOR).answered_via == "nats"
        assert len([r for r in routing.referrals(event.case_id) if r.code == "R1"]) == 4
    finally:
        await broker.stop()
