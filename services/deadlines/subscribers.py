"""Deadlines' subscriptions: the only file that binds subjects to handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsBroker

from services.deadlines.handlers import (
    TIMELINE_INBOX,
    DeadlinesDeps,
    apply_case_entry,
    case_entry,
)
from services.deadlines.handlers.common import TimelineRow
from services.deadlines.handlers.producer import (
    ProducerEvent,
    apply_producer_event,
    read_producer_event,
)
from shared.bus import BatchHandler, batch_subscriber
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationDueSoon,
    ObligationEscalated,
    ObligationMet,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.intake import ReportJoined, ReportReceived
from shared.contracts.obligations import ObligationCancelled
from shared.db import is_postgres

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

# The case timeline of intake's two case events (each subject within the INTAKE stream).
INTAKE_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("intake-report-received", ReportReceived.subject()),
    ("intake-report-joined", ReportJoined.subject()),
)

# Messages per transaction: deadlines hears about fifty events per report, each one a single
# fsync when handled alone; a batch shares one commit (and one wake of the relay) among them.
BATCH_SIZE = 100


def register(
    broker: NatsBroker, deps: DeadlinesDeps, *, wake_relay: Callable[[], None] = lambda: None
) -> None:
    """Bind deadlines' subjects to its handlers, each consumer taking its messages in batches."""
    in_flight = batches_in_flight(deps)
    for producer in OBLIGATION_PRODUCERS:
        # One consumer reads all a producer publishes (it replaced four: shared.streams
        # RETIRED_CONSUMERS), so each obligation event is fetched and committed once.
        batch_subscriber(
            broker,
            f"qorgau.{producer}.>",
            service="deadlines",
            purpose=f"{producer}-events",
            # Read when a batch arrives: the CLI registers without dependencies.
            engine=lambda: deps.engine,
            handle=_producer(deps),
            batch_size=BATCH_SIZE,
            on_commit=wake_relay,
            in_flight=in_flight,
        )

    for purpose, subject in INTAKE_SUBJECTS:
        batch_subscriber(
            broker,
            subject,
            service="deadlines",
            purpose=f"timeline-{purpose}",
            engine=lambda: deps.engine,
            handle=_timeline(deps),
            batch_size=BATCH_SIZE,
            in_flight=in_flight,
        )


def batches_in_flight(deps: DeadlinesDeps | None) -> int:
    """Batches each consumer handles at once: two on PostgreSQL, one on SQLite (one writer)."""
    # The CLI registers the subscribers without dependencies, only to list the consumers.
    return 2 if deps is not None and is_postgres(deps.engine) else 1


def _producer(deps: DeadlinesDeps) -> BatchHandler[ProducerEvent]:
    return BatchHandler(
        # Each part of the event claims the inbox entry of the consumer that used to read it.
        inbox=None,
        decode=lambda subject, data: read_producer_event(subject, data, now=deps.clock.now()),
        payload=dict[str, Any],
        name="producer_event",
        event_id=lambda event: event.event_id,
        apply=lambda session, event: apply_producer_event(session, event, deps=deps),
        now=lambda: deps.clock.now(),
    )


def _timeline(deps: DeadlinesDeps) -> BatchHandler[TimelineRow]:
    return BatchHandler(
        inbox=TIMELINE_INBOX,
        decode=lambda subject, data: case_entry(subject, json.loads(data), now=deps.clock.now()),
        payload=dict[str, Any],
        name="case_event",
        event_id=lambda entry: str(entry["event_id"]),
        apply=apply_case_entry,
        now=lambda: deps.clock.now(),
    )
