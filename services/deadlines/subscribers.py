"""Deadlines' subscriptions: the only file that binds subjects to handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from services.deadlines.handlers import (
    DeadlinesDeps,
    on_case_event,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from shared.bus import durable_subscriber
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationDueSoon,
    ObligationEscalated,
    ObligationMet,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.intake import ReportJoined, ReportReceived
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened

# What deadlines publishes (through its outbox), for the event catalogue. ObligationCancelled
# goes out under deadlines' own subject when it stops watching an obligation.
PUBLISHES = (
    ObligationScheduled,
    ObligationMet,
    ObligationDueSoon,
    ObligationBreached,
    ObligationEscalated,
    ObligationRescheduled,
    ObligationCancelled,
)

# Every service that opens obligations publishes the same contract under its own subject.
OBLIGATION_PRODUCERS = ("routing", "casework", "shelter", "familycentre")

# The case timeline: intake's two case events, and everything the producers publish (each
# wildcard lies within one stream, `qorgau.<service>.>`).
TIMELINE_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("intake-report-received", ReportReceived.subject()),
    ("intake-report-joined", ReportJoined.subject()),
    *((producer, f"qorgau.{producer}.>") for producer in OBLIGATION_PRODUCERS),
)


def register(
    broker: NatsBroker, deps: DeadlinesDeps, *, wake_relay: Callable[[], None] = lambda: None
) -> None:
    """Bind deadlines' subjects to its handlers."""
    for producer in OBLIGATION_PRODUCERS:

        @durable_subscriber(
            broker,
            ObligationOpened.subject(producer),
            service="deadlines",
            purpose=f"{producer}-obligation-opened",
        )
        async def opened(event: ObligationOpened) -> None:
            await asyncio.to_thread(on_obligation_opened, event, deps=deps)
            wake_relay()

        @durable_subscriber(
            broker,
            ObligationFulfilled.subject(producer),
            service="deadlines",
            purpose=f"{producer}-obligation-fulfilled",
        )
        async def fulfilled(event: ObligationFulfilled) -> None:
            await asyncio.to_thread(on_obligation_fulfilled, event, deps=deps)
            wake_relay()

        @durable_subscriber(
            broker,
            ObligationCancelled.subject(producer),
            service="deadlines",
            purpose=f"{producer}-obligation-cancelled",
        )
        async def cancelled(event: ObligationCancelled) -> None:
            await asyncio.to_thread(on_obligation_cancelled, event, deps=deps)
            wake_relay()

    for purpose, subject in TIMELINE_SUBJECTS:

        @durable_subscriber(broker, subject, service="deadlines", purpose=f"timeline-{purpose}")
        async def case_event(body: dict[str, Any], msg: NatsMessage) -> None:
            await asyncio.to_thread(on_case_event, msg.raw_message.subject, body, deps=deps)
