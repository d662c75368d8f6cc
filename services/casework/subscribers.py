"""Casework's subscriptions: the only file that binds subjects to handlers.

Agencies record their work on their own subjects (AGENCY stream),
`qorgau.agency.<agency_id>.obligation_action.v1`: the subject's agency token is the acting
agency, so casework reads it from the subject, never from the payload (docs/obligations.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from services.casework.handlers import (
    OBLIGATIONS,
    CaseworkDeps,
    apply_due_time,
    due_time_inbox,
    on_agency_action,
    on_referral_issued,
)
from services.casework.handlers.readmodel import DueTimeEvent
from shared.bus import BatchHandler, batch_subscriber, durable_subscriber, event_handler
from shared.contracts.casework import (
    AgencyObligationAction,
    CaseArrived,
    CaseClosed,
    CaseManagerAssigned,
    ObligationActionApproved,
    ObligationActionRecorded,
    ObligationActionRejected,
    PlanLineAssigned,
)
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.obligationsview import (
    BATCH_SIZE,
    batches_in_flight,
    subscribe_directory,
    subscribe_obligations,
)
from shared.streams import PREFIX

# What casework publishes (through its outbox), for the event catalogue; the obligation
# contract goes out under `qorgau.casework.*`.
PUBLISHES = (
    CaseArrived,
    CaseManagerAssigned,
    ObligationActionRecorded,
    ObligationActionApproved,
    ObligationActionRejected,
    PlanLineAssigned,
    CaseClosed,
    ObligationOpened,
    ObligationFulfilled,
    ObligationCancelled,
)
# What casework delivers on an agency's own subject: its refused actions.
DELIVERS = (ObligationActionRejected,)
# What agencies' systems publish on their own subjects for casework.
ANSWERS = (AgencyObligationAction,)

ACTION_SUBJECT = (
    f"{PREFIX}.agency.*.{AgencyObligationAction.NAME}.v{AgencyObligationAction.VERSION}"
)


def _acting_agency(message: NatsMessage) -> str:
    # qorgau.agency.<agency_id>.obligation_action.v<N>
    return str(message.raw_message.subject).split(".")[2]


def register(
    broker: NatsBroker, deps: CaseworkDeps, *, wake_relay: Callable[[], None] | None = None
) -> None:
    """Bind casework's subjects to its handlers."""

    def wake_relay_now() -> None:
        # What the handler staged goes out now, not at the relay's next poll.
        if wake_relay is not None:
            wake_relay()

    subscribe_obligations(broker, OBLIGATIONS, deps)

    @durable_subscriber(
        broker, ReferralIssued.subject(), service="casework", purpose="referral-issued"
    )
    async def referral_issued(event: ReferralIssued) -> None:
        await asyncio.to_thread(on_referral_issued, event, deps=deps)
        wake_relay_now()

    subscribe_directory(broker, OBLIGATIONS, deps)

    # Due times as deadlines counts them, shown on each agency's work list (~27 schedules per
    # report): in batches, one transaction each. One consumer per event: each body is read as
    # its own type.
    in_flight = batches_in_flight(deps)
    for purpose, event_type, name in (
        ("obligation-scheduled", ObligationScheduled, "scheduled"),
        ("obligation-rescheduled", ObligationRescheduled, "rescheduled"),
        ("obligation-breached", ObligationBreached, "breached"),
    ):
        batch_subscriber(
            broker,
            event_type.subject(),
            service="casework",
            purpose=purpose,
            # Read when a batch arrives: the CLI registers without dependencies.
            engine=lambda: deps.engine,
            handle=_due_time(event_type, name, deps),
            batch_size=BATCH_SIZE,
            in_flight=in_flight,
        )

    @durable_subscriber(broker, ACTION_SUBJECT, service="casework", purpose="agency-actions")
    async def action(event: AgencyObligationAction, message: NatsMessage) -> None:
        await asyncio.to_thread(
            on_agency_action, event, subject_agency_id=_acting_agency(message), deps=deps
        )
        wake_relay_now()


def _due_time(event_type: type[DueTimeEvent], name: str, deps: CaseworkDeps) -> BatchHandler[Any]:
    return event_handler(
        event_type,
        inbox=due_time_inbox(event_type),
        name=name,
        apply=lambda session, event: apply_due_time(session, event, deps=deps),
        now=lambda: deps.clock.now(),
    )
