"""Routing's subscriptions: the only file that binds subjects to handlers."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsBroker

from services.routing.handlers import RoutingDeps, on_report_received
from shared.bus import durable_subscriber
from shared.contracts.intake import ReportReceived
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import ReferralIssued

# What routing publishes (through its outbox), for the event catalogue.
PUBLISHES = (ReferralIssued, ObligationOpened, ObligationFulfilled, ObligationCancelled)
# What routing delivers on each agency's own subject.
DELIVERS = (ReferralIssued,)


def register(broker: NatsBroker, deps: RoutingDeps, *, wake_relay: object = None) -> None:
    """Bind routing's subjects to its handlers."""

    @durable_subscriber(
        broker, ReportReceived.subject(), service="routing", purpose="report-received"
    )
    async def report_received(event: ReportReceived) -> None:
        await asyncio.to_thread(on_report_received, event, deps=deps)
        if callable(wake_relay):
            wake_relay()
