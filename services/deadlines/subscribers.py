"""Deadlines' subscriptions: the only file that binds subjects to handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.nats import NatsBroker

from services.deadlines.handlers import DeadlinesDeps, on_obligation_fulfilled, on_obligation_opened
from shared.bus import durable_subscriber
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationDueSoon,
    ObligationEscalated,
    ObligationMet,
    ObligationScheduled,
)
from shared.contracts.obligations import ObligationFulfilled, ObligationOpened

# What deadlines publishes (through its outbox), for the event catalogue.
PUBLISHES = (
    ObligationScheduled,
    ObligationMet,
    ObligationDueSoon,
    ObligationBreached,
    ObligationEscalated,
)

# Every service that opens obligations publishes the same contract under its own subject.
OBLIGATION_PRODUCERS = ("routing",)


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
