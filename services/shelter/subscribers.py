"""Shelter's subscriptions: the only file that binds subjects to handlers.

Routing delivers a referral to a shelter (S1 by social protection, healthcare or the police,
p.25; F8 by a family support centre) on the shelter's own subject,
`qorgau.agency.<shelter id>.referral_issued.v1`; the service keeps each one until the person
arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.nats import NatsBroker

from services.shelter.handlers import ShelterDeps, on_referral_issued
from shared.bus import durable_subscriber
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.contracts.shelter import CapacityChanged, StayOpened, StayStepRecorded
from shared.streams import PREFIX

# What the shelter publishes (through its outbox); the obligation contract goes out under
# `qorgau.shelter.*`.
PUBLISHES = (
    StayOpened,
    StayStepRecorded,
    CapacityChanged,
    ObligationOpened,
    ObligationFulfilled,
    ObligationCancelled,
)

# Referrals delivered to any agency; the handler keeps those addressed to shelters.
REFERRAL_SUBJECT = f"{PREFIX}.agency.*.{ReferralIssued.NAME}.v{ReferralIssued.VERSION}"


def register(
    broker: NatsBroker, deps: ShelterDeps, *, wake_relay: Callable[[], None] | None = None
) -> None:
    """Bind the shelter's subjects to its handlers."""

    @durable_subscriber(broker, REFERRAL_SUBJECT, service="shelter", purpose="referrals")
    async def referral(event: ReferralIssued) -> None:
        await asyncio.to_thread(on_referral_issued, event, deps=deps)
