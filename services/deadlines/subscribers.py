"""Deadlines' subscriptions: the only file that binds subjects to handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsBroker

from services.deadlines.handlers import (
    CANCELLED_INBOX,
    FULFILLED_INBOX,
    OPENED_INBOX,
    TIMELINE_INBOX,
    DeadlinesDeps,
    apply_case_entry,
    apply_obligation_cancelled,
    apply_obligation_fulfilled,
    apply_obligation_opened,
    case_entry,
)
from services.deadlines.tables import TimelineEntry
from shared.bus import BatchHandler, batch_subscriber, event_handler
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

# The case timeline: intake's two case events, and everything the producers publish (each
# wildcard lies within one stream, `qorgau.<service>.>`).
TIMELINE_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("intake-report-received", ReportReceived.subject()),
    ("intake-report-joined", ReportJoined.subject()),
    *((producer, f"qorgau.{producer}.>") for producer in OBLIGATION_PRODUCERS),
)


# Messages per transaction: deadlines hears 20-30 events per report, each one a single fsync
# when handled alone; a batch shares one commit (and one wake of the relay) among them.
BATCH_SIZE = 100


def register(
    broker: NatsBroker, deps: DeadlinesDeps, *, wake_relay: Callable[[], None] = lambda: None
) -> None:
    """Bind deadlines' subjects to its handlers, each consumer taking its messages in batches."""
    in_flight = batches_in_flight(deps)
    for producer in OBLIGATION_PRODUCERS:
        for purpose, subject, handle in (
            ("opened", ObligationOpened.subject(producer), _opened(deps)),
            ("fulfilled", ObligationFulfilled.subject(producer), _fulfilled(deps)),
            ("cancelled", ObligationCancelled.subject(producer), _cancelled(deps)),
        ):
            batch_subscriber(
                broker,
                subject,
                service="deadlines",
                purpose=f"{producer}-obligation-{purpose}",
                # Read when a batch arrives: the CLI registers without dependencies.
                engine=lambda: deps.engine,
                handle=handle,
                batch_size=BATCH_SIZE,
                on_commit=wake_relay,
                in_flight=in_flight,
            )

    for purpose, subject in TIMELINE_SUBJECTS:
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


def _opened(deps: DeadlinesDeps) -> BatchHandler[ObligationOpened]:
    return event_handler(
        ObligationOpened,
        inbox=OPENED_INBOX,
        name="opened",
        apply=lambda session, event: apply_obligation_opened(session, event, deps=deps),
        now=lambda: deps.clock.now(),
    )


def _fulfilled(deps: DeadlinesDeps) -> BatchHandler[ObligationFulfilled]:
    return event_handler(
        ObligationFulfilled,
        inbox=FULFILLED_INBOX,
        name="fulfilled",
        apply=lambda session, event: apply_obligation_fulfilled(session, event, deps=deps),
        now=lambda: deps.clock.now(),
    )


def _cancelled(deps: DeadlinesDeps) -> BatchHandler[ObligationCancelled]:
    return event_handler(
        ObligationCancelled,
        inbox=CANCELLED_INBOX,
        name="cancelled",
        apply=lambda session, event: apply_obligation_cancelled(session, event, deps=deps),
        now=lambda: deps.clock.now(),
    )


def _timeline(deps: DeadlinesDeps) -> BatchHandler[TimelineEntry]:
    return BatchHandler(
        inbox=TIMELINE_INBOX,
        decode=lambda subject, data: case_entry(subject, json.loads(data), now=deps.clock.now()),
        payload=dict[str, Any],
        name="case_event",
        event_id=lambda entry: entry.event_id,
        apply=apply_case_entry,
        now=lambda: deps.clock.now(),
    )
