"""Intake's subscriptions: which agencies relate to a case, learned from routing's events."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsBroker

from services.intake.handlers import IntakeDeps, obligation_opened, referral_issued
from shared.bus import durable_subscriber
from shared.contracts.intake import DuplicateConfirmed, ReportJoined, ReportReceived
from shared.contracts.obligations import ObligationOpened
from shared.contracts.routing import ReferralIssued

# What intake publishes (through its outbox), for the event catalogue.
PUBLISHES = (ReportReceived, ReportJoined, DuplicateConfirmed)

# Services whose obligations relate agencies to a case (each publishes the shared contract).
OBLIGATION_PRODUCERS = ("routing",)


def register(broker: NatsBroker, deps: IntakeDeps) -> None:
    """Bind routing's referral and obligation subjects to the case-access handlers."""
    referrals = "intake-routing-referral-issued"

    @durable_subscriber(
        broker, ReferralIssued.subject(), service="intake", purpose="routing-referral-issued"
    )
    async def on_referral(event: ReferralIssued) -> None:
        await asyncio.to_thread(referral_issued, event, consumer=referrals, deps=deps)

    for producer in OBLIGATION_PRODUCERS:
        _obligations_of(broker, producer, deps)


def _obligations_of(broker: NatsBroker, producer: str, deps: IntakeDeps) -> None:
    purpose = f"{producer}-obligation-opened"
    consumer = f"intake-{purpose}"

    @durable_subscriber(
        broker, ObligationOpened.subject(producer), service="intake", purpose=purpose
    )
    async def on_obligation(event: ObligationOpened) -> None:
        await asyncio.to_thread(obligation_opened, event, consumer=consumer, deps=deps)
