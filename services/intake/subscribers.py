"""Intake's subscriptions: none yet. Intake is where reports enter; it consumes no events."""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.intake.handlers import IntakeDeps
from shared.contracts.intake import ReportJoined, ReportReceived

# What intake publishes (through its outbox), for the event catalogue.
PUBLISHES = (ReportReceived, ReportJoined)


def register(broker: NatsBroker, deps: IntakeDeps) -> None:
    """Bind intake's subjects to handlers (intake listens to nothing today)."""
    del broker, deps
