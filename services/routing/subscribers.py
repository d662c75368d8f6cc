"""Routing's subscriptions: the only file that binds subjects to handlers.

Agencies answer referrals on their own subjects (AGENCY stream),
`qorgau.agency.<agency_id>.referral_acknowledged.v1` and `...referral_declined.v1`: the subject's
agency token is the answering agency, so routing reads it from the subject, not the payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from services.routing.handlers import (
    RoutingDeps,
    on_agency_acknowledgement,
    on_agency_decline,
    on_obligation_escalated,
    on_plan_line_assigned,
    on_report_joined,
    on_report_received,
)
from services.routing.handlers.familycentre import on_centre_delivery, on_person_admitted
from services.routing.handlers.shelter_places import on_capacity_changed
from shared.bus import durable_subscriber
from shared.contracts.alerts import ReportUnrouted
from shared.contracts.casework import PlanLineAssigned
from shared.contracts.deadlines import ObligationEscalated
from shared.contracts.familycentre import CentreDelivery, PersonAdmitted
from shared.contracts.intake import ReportJoined, ReportReceived
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import (
    AgencyAcknowledgement,
    AgencyChanged,
    AgencyDecline,
    AgencyRegistered,
    ReferralAcknowledged,
    ReferralAnswerRejected,
    ReferralDeclined,
    ReferralEscalated,
    ReferralIssued,
    ReferralRerouted,
    ReferralUnacknowledged,
)
from shared.contracts.shelter import CapacityChanged
from shared.streams import PREFIX

# What routing publishes (through its outbox), for the event catalogue.
PUBLISHES = (
    ReferralIssued,
    ReferralAcknowledged,
    ReferralDeclined,
    ReferralRerouted,
    ReferralEscalated,
    ReferralUnacknowledged,
    ReferralAnswerRejected,
    AgencyRegistered,
    AgencyChanged,
    ObligationOpened,
    ObligationFulfilled,
    ObligationCancelled,
    ReportUnrouted,
)
# What routing delivers on each agency's own subject.
DELIVERS = (ReferralIssued, ReferralUnacknowledged, ReferralAnswerRejected)
# What agencies' systems publish on their own subjects for routing.
ANSWERS = (AgencyAcknowledgement, AgencyDecline)


def answer_subject(event: type[AgencyAcknowledgement] | type[AgencyDecline]) -> str:
    """Return the subject filter of an answer from any agency."""
    return f"{PREFIX}.agency.*.{event.NAME}.v{event.VERSION}"


def _answering_agency(message: NatsMessage) -> str:
    # qorgau.agency.<agency_id>.<event>.v<N>
    return str(message.raw_message.subject).split(".")[2]


def register(
    broker: NatsBroker, deps: RoutingDeps, *, wake_relay: Callable[[], None] | None = None
) -> None:
    """Bind routing's subjects to its handlers."""

    def wake_relay_now() -> None:
        # What the handler staged goes out now, not at the relay's next poll.
        if wake_relay is not None:
            wake_relay()

    @durable_subscriber(
        broker, ReportReceived.subject(), service="routing", purpose="report-received"
    )
    async def report_received(event: ReportReceived) -> None:
        await asyncio.to_thread(on_report_received, event, deps=deps)
        wake_relay_now()

    @durable_subscriber(broker, ReportJoined.subject(), service="routing", purpose="report-joined")
    async def report_joined(event: ReportJoined) -> None:
        await asyncio.to_thread(on_report_joined, event, deps=deps)
        wake_relay_now()

    @durable_subscriber(
        broker,
        ObligationEscalated.subject(),
        service="routing",
        purpose="obligation-escalated",
    )
    async def obligation_escalated(event: ObligationEscalated) -> None:
        await asyncio.to_thread(on_obligation_escalated, event, deps=deps)
        wake_relay_now()

    @durable_subscriber(
        broker, PlanLineAssigned.subject(), service="routing", purpose="plan-line-assigned"
    )
    async def plan_line_assigned(event: PlanLineAssigned) -> None:
        await asyncio.to_thread(on_plan_line_assigned, event, deps=deps)
        wake_relay_now()

    @durable_subscriber(
        broker,
        answer_subject(AgencyAcknowledgement),
        service="routing",
        purpose="agency-acknowledgements",
    )
    async def acknowledged(event: AgencyAcknowledgement, message: NatsMessage) -> None:
        await asyncio.to_thread(
            on_agency_acknowledgement,
            event,
            subject_agency_id=_answering_agency(message),
            deps=deps,
        )
        wake_relay_now()

    @durable_subscriber(
        broker, answer_subject(AgencyDecline), service="routing", purpose="agency-declines"
    )
    async def declined(event: AgencyDecline, message: NatsMessage) -> None:
        await asyncio.to_thread(
            on_agency_decline, event, subject_agency_id=_answering_agency(message), deps=deps
        )
        wake_relay_now()

    # The family centre's deliveries and admissions (Family Centre Rules p.13-14, p.16, p.22,
    # p.24, p.26): routing delivers them, and an admission with children opens F10.
    @durable_subscriber(
        broker, CentreDelivery.subject(), service="routing", purpose="centre-delivery"
    )
    async def centre_delivery(event: CentreDelivery) -> None:
        await asyncio.to_thread(on_centre_delivery, event, deps=deps)
        wake_relay_now()

    @durable_subscriber(
        broker, PersonAdmitted.subject(), service="routing", purpose="person-admitted"
    )
    async def person_admitted(event: PersonAdmitted) -> None:
        await asyncio.to_thread(on_person_admitted, event, deps=deps)
        wake_relay_now()

    # A shelter's free places (Standard 14701 p.25): a full shelter is passed over.
    @durable_subscriber(
        broker, CapacityChanged.subject(), service="routing", purpose="shelter-capacity"
    )
    async def capacity_changed(event: CapacityChanged) -> None:
        await asyncio.to_thread(on_capacity_changed, event, deps=deps)
