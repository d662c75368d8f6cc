"""Casework's subscriptions: the only file that binds subjects to handlers.

Agencies record their work on their own subjects (AGENCY stream),
`qorgau.agency.<agency_id>.obligation_action.v1`: the subject's agency token is the acting
agency, so casework reads it from the subject, never from the payload (docs/obligations.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from services.casework.handlers import (
    OBLIGATIONS,
    CaseworkDeps,
    on_agency_action,
    on_due_time,
    on_referral_issued,
)
from shared.bus import durable_subscriber
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
from shared.obligationsview import subscribe_directory, subscribe_obligations
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

    # Due times as deadlines counts them, shown on each agency's work list (one subscriber per
    # event: each body is read as its own type).
    @durable_subscriber(
        broker, ObligationScheduled.subject(), service="casework", purpose="obligation-scheduled"
    )
    async def scheduled(event: ObligationScheduled) -> None:
        await asyncio.to_thread(on_due_time, event, deps=deps)

    @durable_subscriber(
        broker,
        ObligationRescheduled.subject(),
        service="casework",
        purpose="obligation-rescheduled",
    )
    async def rescheduled(event: ObligationRescheduled) -> None:
        await asyncio.to_thread(on_due_time, event, deps=deps)

    @durable_subscriber(
        broker, ObligationBreached.subject(), service="casework", purpose="obligation-breached"
    )
    async def breached(event: ObligationBreached) -> None:
        await asyncio.to_thread(on_due_time, event, deps=deps)

    @durable_subscriber(broker, ACTION_SUBJECT, service="casework", purpose="agency-actions")
    async def action(event: AgencyObligationAction, message: NatsMessage) -> None:
        await asyncio.to_thread(
            on_agency_action, event, subject_agency_id=_acting_agency(message), deps=deps
        )
        wake_relay_now()
