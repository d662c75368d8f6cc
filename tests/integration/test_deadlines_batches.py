"""Deadlines consumes in batches: many openings and their early fulfilments, over a real NATS.

Every fulfilment is published before its opening and all of them are in the stream before
deadlines starts, so its one consumer of routing's events takes them in a few batches, each
fulfilment kept until its opening comes: each obligation must end met once, with one event
each, and the case timeline must hold every routing event once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, event
from sqlmodel import select

from services.deadlines import subscribers
from services.deadlines.tables import Obligation, TimelineEntry
from shared.bus import make_broker
from shared.db import unit_of_work
from shared.natsserver import NatsServer
from tests.bus_helpers import connected, publish_events
from tests.integration.test_deadlines_lifecycle import (
    MET,
    SCHEDULED,
    T0,
    fulfilled,
    make_deps,
    opened,
    published,
)
from tests.waiting import eventually

COUNT = 30
# 120 messages on a machine that may be busy: more than the default wait of one outcome.
WAIT = 60.0


def statuses(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        return [o.status for o in session.exec(select(Obligation))]


def timeline(engine: Engine, case_id: uuid.UUID) -> list[str]:
    with unit_of_work(engine) as session:
        entries = session.exec(select(TimelineEntry).where(TimelineEntry.case_id == str(case_id)))
        return [e.event for e in entries]


async def test_batches_of_openings_and_early_fulfilments_end_met_once(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, at=T0 + timedelta(minutes=30))
    case_id = uuid.uuid4()
    openings = [opened(producer="routing", case_id=case_id) for _ in range(COUNT)]
    for each in openings:
        await publish_events(url, fulfilled(each, met_at=T0 + timedelta(minutes=20)), each)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    woken: list[int] = []
    broker = make_broker(url, service="deadlines")
    subscribers.register(broker, deps, wake_relay=lambda: woken.append(1))

    await broker.start()
    try:
        await eventually(lambda: statuses(engine) == ["met"] * COUNT, "every obligation met", WAIT)
        await eventually(
            lambda: len(timeline(engine, case_id)) >= 4 * COUNT, "the case's timeline", WAIT
        )
        async with connected(url) as (_, js):

            async def acked() -> bool:
                info = await js.consumer_info("ROUTING", "deadlines-routing-events")
                return (info.num_pending, info.num_ack_pending) == (0, 0)

            await eventually(acked, "routing's events acked", WAIT)
    finally:
        await broker.stop()

    mine = {str(each.obligation_id) for each in openings}
    met = [m["obligation_id"] for m in published(engine, MET)]
    assert sorted(met) == sorted(mine)
    assert sorted(s["obligation_id"] for s in published(engine, SCHEDULED)) == sorted(mine)
    names = timeline(engine, case_id)
    # Routing's two events (each read once, for the timeline and the obligation) and
    # deadlines' own two, once each.
    for name in (
        "routing.obligation_opened",
        "routing.obligation_fulfilled",
        "deadlines.obligation_scheduled",
        "deadlines.obligation_met",
    ):
        assert names.count(name) == COUNT, name
    # One consumer with 60 messages: far fewer transactions than messages.
    assert len(commits) < 10
    assert woken
