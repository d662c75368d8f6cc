"""A fulfilment or cancellation that reaches deadlines before the obligation opens.

Producers publish opened, fulfilled and cancelled on separate consumers, so deadlines often
hears of a fulfilment first. It is kept on its first delivery and applied when the obligation
opens, with the outcome it has in order: handlers on SQLite and PostgreSQL, then the service's
subscribers on a real nats-server, where each message must be delivered once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from services.deadlines import subscribers
from services.deadlines.handlers import (
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from services.deadlines.tables import PendingSettlement
from shared.bus import make_broker
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.db import unit_of_work
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, pending_count
from tests.bus_helpers import connected, publish_events, read_payloads
from tests.integration.test_deadlines_lifecycle import (
    CANCELLED,
    MET,
    SCHEDULED,
    T0,
    cancelled,
    fulfilled,
    make_deps,
    opened,
    published,
    row,
    timeline_names,
)
from tests.waiting import eventually

Settle = Callable[[ObligationOpened], ObligationFulfilled | ObligationCancelled]

SCENARIOS: dict[str, Settle] = {
    "met on time": lambda event: fulfilled(event, met_at=T0 + timedelta(minutes=20)),
    "met late": lambda event: fulfilled(event, met_at=T0 + timedelta(hours=3)),
    "cancelled": lambda event: cancelled(event, reason="report joined case 7b75", at=T0),
}
# What an outcome is judged by: the row's state and what deadlines announced, ids aside.
ROW = ("status", "on_time", "met_at", "met_by_agency_id", "due_at", "cancelled_at", "cancel_reason")
EVENT = ("code", "met_at", "due_at", "on_time", "met_by_agency_id", "reason", "was_breached")


def _outcome(engine: Engine, event: ObligationOpened) -> dict[str, Any]:
    mine = str(event.obligation_id)
    announced = [
        {key: each.get(key) for key in EVENT}
        for subject in (SCHEDULED, MET, CANCELLED)
        for each in published(engine, subject)
        if each["obligation_id"] == mine
    ]
    return {
        "row": {key: row(engine, mine)[key] for key in ROW},
        "events": announced,
        "timeline": sorted(timeline_names(engine, event.case_id)),
    }


def _settle(settlement: ObligationFulfilled | ObligationCancelled, deps: Any) -> None:
    if isinstance(settlement, ObligationFulfilled):
        on_obligation_fulfilled(settlement, deps=deps)
    else:
        on_obligation_cancelled(settlement, deps=deps)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_settled_before_opening_ends_as_in_order(
    scenario: str, migrated_engine: Callable[[str], Engine]
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, at=T0 + timedelta(hours=4))
    in_order, early = opened(), opened()
    on_obligation_opened(in_order, deps=deps)
    _settle(SCENARIOS[scenario](in_order), deps)
    # The other way round: accepted at once (no exception asks for a redelivery).
    _settle(SCENARIOS[scenario](early), deps)
    assert row_or_none(engine, early.obligation_id) is None
    on_obligation_opened(early, deps=deps)
    assert _outcome(engine, early) == _outcome(engine, in_order)
    assert _outcome(engine, early)["row"]["status"] in {"met", "cancelled"}
    with unit_of_work(engine) as session:
        kept = session.exec(
            select(PendingSettlement).where(
                PendingSettlement.obligation_id == str(early.obligation_id)
            )
        ).all()
        assert [each.applied_at is not None for each in kept] == [True]


def test_a_kept_fulfilment_is_applied_once_even_if_the_opening_is_replayed(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened()
    early = fulfilled(event, met_at=T0)
    on_obligation_fulfilled(early, deps=deps)
    on_obligation_fulfilled(early, deps=deps)
    for _ in range(2):
        on_obligation_opened(event, deps=deps)
    # Redelivered after the opening, it is skipped by the inbox.
    on_obligation_fulfilled(early, deps=deps)
    assert row(engine, event.obligation_id)["status"] == "met"
    assert len([m for m in published(engine, MET) if m["code"] == event.code]) == 1


def row_or_none(engine: Engine, obligation_id: uuid.UUID) -> dict[str, Any] | None:
    """An obligation's row, or None when deadlines has not recorded it."""
    try:
        return row(engine, obligation_id)
    except AssertionError:
        return None


async def test_over_nats_a_fulfilment_first_is_met_with_one_delivery_each(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, at=T0 + timedelta(minutes=30))
    broker = make_broker(url, service="deadlines")
    subscribers.register(broker, deps)
    relay = OutboxRelay(engine=engine, publisher=broker, clock=deps.clock)

    async def relayed() -> bool:
        await relay.relay_once()
        return pending_count(engine) == 0

    event = opened(producer="routing")
    done = fulfilled(event, met_at=T0 + timedelta(minutes=20))
    await broker.start()
    try:
        await publish_events(url, done)
        await eventually(
            lambda: _kept(engine, str(event.obligation_id)), "the fulfilment to be kept"
        )
        await publish_events(url, event)
        met = await eventually(
            lambda: (row_or_none(engine, event.obligation_id) or {}).get("status") == "met",
            "the obligation to be met",
        )
        assert met
        assert row(engine, event.obligation_id)["on_time"] is True
        await eventually(relayed, "deadlines' events to be published")
        on_bus = [
            payload
            for _, payload in await read_payloads(url, "DEADLINES")
            if payload.get("obligation_id") == str(event.obligation_id)
        ]
        assert [(p["code"], p.get("on_time")) for p in on_bus if "met_at" in p] == [("R7", True)]
        assert any("due_at" in p and "met_at" not in p for p in on_bus)  # scheduled
        async with connected(url) as (_, js):
            info = await js.consumer_info("ROUTING", "deadlines-routing-events")
            assert info.delivered is not None and info.delivered.stream_seq >= 2
            # Each delivered once, acknowledged once: nothing waited for a redelivery.
            assert (info.num_redelivered, info.num_ack_pending) == (0, 0)
            assert info.delivered.consumer_seq == 2
    finally:
        await broker.stop()


def _kept(engine: Engine, obligation_id: str) -> bool:
    with unit_of_work(engine) as session:
        return (
            session.exec(
                select(PendingSettlement).where(PendingSettlement.obligation_id == obligation_id)
            ).first()
            is not None
        )
