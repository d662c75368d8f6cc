"""The family centre's subscriptions: the only file that binds subjects to handlers.

Routing's `referral_issued` (ROUTING stream) tells the centre of a case delivered to a family
support centre (R13's family part, an action F7/F8 asks of it): it becomes an appeal from a body
(p.12.4). Routing's obligations on a family support centre are kept so the centre meets them by
id; the directory keeps the organisations a plan line may name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from services.familycentre.handlers import (
    OBLIGATIONS,
    CentreDeps,
    on_agency_line_report,
    on_referral_issued,
)
from shared.bus import durable_subscriber
from shared.contracts.familycentre import (
    AgencyPlanLineReport,
    AppealReceived,
    CentreDelivery,
    MobileGroupEngaged,
    PersonAdmitted,
    PlanApproved,
    PlanEnded,
)
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.obligationsview import subscribe_directory, subscribe_obligations
from shared.streams import PREFIX

# What the centre publishes (through its outbox), for the event catalogue; the obligation
# contract goes out under `qorgau.familycentre.*`.
PUBLISHES = (
    AppealReceived,
    CentreDelivery,
    MobileGroupEngaged,
    PersonAdmitted,
    PlanApproved,
    PlanEnded,
    ObligationOpened,
    ObligationFulfilled,
    ObligationCancelled,
)
# What agencies' systems publish on their own subjects for the centre: a plan line reported.
ANSWERS = (AgencyPlanLineReport,)

LINE_REPORT_SUBJECT = (
    f"{PREFIX}.agency.*.{AgencyPlanLineReport.NAME}.v{AgencyPlanLineReport.VERSION}"
)


def _reporting_agency(message: NatsMessage) -> str:
    # qorgau.agency.<agency_id>.plan_line_reported.v<N>
    return str(message.raw_message.subject).split(".")[2]


def register(
    broker: NatsBroker, deps: CentreDeps, *, wake_relay: Callable[[], None] | None = None
) -> None:
    """Bind the centre's subjects to its handlers."""

    def wake_relay_now() -> None:
        # What the handler staged goes out now, not at the relay's next poll.
        if wake_relay is not None:
            wake_relay()

    @durable_subscriber(
        broker, ReferralIssued.subject(), service="familycentre", purpose="referral-issued"
    )
    async def referral_issued(event: ReferralIssued) -> None:
        await asyncio.to_thread(on_referral_issued, event, deps=deps)
        wake_relay_now()

    subscribe_obligations(broker, OBLIGATIONS, deps)
    subscribe_directory(broker, OBLIGATIONS, deps)

    @durable_subscriber(
        broker, LINE_REPORT_SUBJECT, service="familycentre", purpose="plan-line-reports"
    )
    async def line_report(event: AgencyPlanLineReport, message: NatsMessage) -> None:
        await asyncio.to_thread(
            on_agency_line_report,
            event,
            subject_agency_id=_reporting_agency(message),
            deps=deps,
        )
        wake_relay_now()
