"""Intake's subscriptions: which agencies relate to a case, learned from routing's events."""

from __future__ import annotations

from faststream.nats import NatsBroker

from services.intake.handlers import (
    Access,
    IntakeDeps,
    apply_access,
    obligation_access,
    referral_access,
)
from shared.bus import BatchHandler, batch_subscriber
from shared.contracts.intake import DuplicateConfirmed, ReportJoined, ReportReceived
from shared.contracts.obligations import ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.db import is_postgres

# What intake publishes (through its outbox), for the event catalogue.
PUBLISHES = (ReportReceived, ReportJoined, DuplicateConfirmed)

# Services whose obligations relate agencies to a case (each publishes the shared contract).
OBLIGATION_PRODUCERS = ("routing",)

# Messages per transaction: each report brings ~27 openings and ~9 referrals, each a single
# fsync when handled alone; a batch shares one commit among them.
BATCH_SIZE = 100


def register(broker: NatsBroker, deps: IntakeDeps) -> None:
    """Bind routing's referral and obligation subjects to the case-access handlers, in batches."""
    in_flight = batches_in_flight(deps)
    # Inbox consumers are named as the durables: both are stored names, never to be renamed.
    referrals = "intake-routing-referral-issued"
    batch_subscriber(
        broker,
        ReferralIssued.subject(),
        service="intake",
        purpose="routing-referral-issued",
        # Read when a batch arrives: the CLI registers without dependencies.
        engine=lambda: deps.engine,
        handle=BatchHandler(
            inbox=referrals,
            decode=lambda _subject, data: referral_access(ReferralIssued.model_validate_json(data)),
            payload=ReferralIssued,
            name="on_referral",
            event_id=_event_id,
            apply=lambda session, access: apply_access(session, access, deps=deps),
            now=lambda: deps.clock.now(),
        ),
        batch_size=BATCH_SIZE,
        in_flight=in_flight,
    )
    for producer in OBLIGATION_PRODUCERS:
        purpose = f"{producer}-obligation-opened"
        batch_subscriber(
            broker,
            ObligationOpened.subject(producer),
            service="intake",
            purpose=purpose,
            engine=lambda: deps.engine,
            handle=BatchHandler(
                inbox=f"intake-{purpose}",
                decode=lambda _subject, data: obligation_access(
                    ObligationOpened.model_validate_json(data)
                ),
                payload=ObligationOpened,
                name="on_obligation",
                event_id=_event_id,
                apply=lambda session, access: apply_access(session, access, deps=deps),
                now=lambda: deps.clock.now(),
            ),
            batch_size=BATCH_SIZE,
            in_flight=in_flight,
        )


def batches_in_flight(deps: IntakeDeps | None) -> int:
    """Batches each consumer handles at once: two on PostgreSQL, one on SQLite (one writer)."""
    # The CLI registers the subscribers without dependencies, only to list the consumers.
    return 2 if deps is not None and is_postgres(deps.engine) else 1


def _event_id(access: Access) -> str:
    return access.event_id
