"""The outbox and inbox against a real nats-server and real databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from shared.bus import make_broker
from shared.clock import FixedClock
from shared.contracts.intake import ReportReceived
from shared.db import unit_of_work
from shared.inbox import claim
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, OutboxRow, pending_count, stage
from tests.bus_helpers import read_stream
from tests.waiting import eventually

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def make_event() -> ReportReceived:
    return ReportReceived(
        occurred_at=NOW,
        case_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        reporter_agency_type="police",
        region="KZ-75",
        channel="duties",
        received_at=NOW,
        subject_kind="minor",
        concerns=("violence",),
    )


async def messages_with_id(nats_url: str, event_id: str) -> list[dict[str, object]]:
    """Every message of the INTAKE stream whose Nats-Msg-Id is event_id."""
    return [
        json.loads(message.data)
        for message in await read_stream(nats_url, "INTAKE")
        if (message.headers or {}).get("Nats-Msg-Id") == event_id
    ]


async def test_relay_publishes_with_msg_id_and_marks_sent_after_puback(
    migrated_engine: Callable[[str], Engine], nats_url: str
) -> None:
    engine = migrated_engine("intake")
    event = make_event()
    with unit_of_work(engine) as session:
        stage(session, event, now=NOW)
        session.commit()
    assert pending_count(engine) == 1
    broker = make_broker(nats_url, service="intake")
    await broker.connect()
    try:
        relay = OutboxRelay(engine=engine, publisher=broker, clock=FixedClock(NOW))
        assert await relay.relay_once() == 1
    finally:
        await broker.stop()
    assert pending_count(engine) == 0
    with unit_of_work(engine) as session:
        row = session.exec(select(OutboxRow)).one()
        # Published rows are kept, marked with the time of the PubAck.
        assert row.sent_at == NOW
    stored = await messages_with_id(nats_url, str(event.event_id))
    assert len(stored) == 1
    assert stored[0]["case_id"] == str(event.case_id)


async def test_a_rolled_back_change_publishes_nothing(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("intake")
    with unit_of_work(engine) as session:
        stage(session, make_event(), now=NOW)
        # No commit: the unit of work rolls back, and the event goes with the state change.
    assert pending_count(engine) == 0


async def test_relay_waits_while_nats_is_down_then_delivers(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    engine = migrated_engine("intake")
    url = nats_restartable.url
    # The server comes back on the same port, as a restarted server would.
    nats_restartable.stop()
    event = make_event()
    with unit_of_work(engine) as session:
        stage(session, event, now=NOW)
        session.commit()
    refused: list[Exception] = []

    async def on_error(error: Exception) -> None:
        refused.append(error)

    broker = make_broker(url, service="intake", error_cb=on_error)
    connecting = asyncio.create_task(broker.connect())
    # A connection attempt refused, and the broker still trying: it waits for NATS.
    await eventually(lambda: refused, "a refused connection attempt")
    # The state change is committed; the event waits in the outbox while NATS is away.
    assert not connecting.done()
    assert pending_count(engine) == 1
    nats_restartable.start()
    await asyncio.wait_for(connecting, timeout=15)
    try:
        relay = OutboxRelay(engine=engine, publisher=broker, clock=FixedClock(NOW))
        assert await relay.relay_once() == 1
    finally:
        await broker.stop()
    assert pending_count(engine) == 0
    assert len(await messages_with_id(url, str(event.event_id))) == 1


@pytest.mark.parametrize("crash", ["crash-after-commit", "crash-after-publish"])
async def test_relay_killed_around_publish_delivers_exactly_once(
    db_url: str, nats_url: str, crash: str
) -> None:
    event_id = str(uuid.uuid4())
    command = [sys.executable, "-m", "tests.integration.relay_process", db_url, nats_url]
    crashed = await asyncio.to_thread(
        subprocess.run, [*command, crash, event_id], capture_output=True, timeout=60
    )
    assert crashed.returncode == -9, crashed.stderr.decode()
    before = await messages_with_id(nats_url, event_id)
    assert len(before) == (1 if crash == "crash-after-publish" else 0)
    resumed = await asyncio.to_thread(
        subprocess.run, [*command, "relay", event_id], capture_output=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    # JetStream dropped the re-publish by its Nats-Msg-Id: the event is there exactly once.
    assert len(await messages_with_id(nats_url, event_id)) == 1


def test_inbox_claims_an_event_once_per_consumer(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("routing")
    with unit_of_work(engine) as session:
        assert claim(session, consumer="routing-a", event_id="e1", now=NOW) is True
        assert claim(session, consumer="routing-b", event_id="e1", now=NOW) is True
        session.commit()
    with unit_of_work(engine) as session:
        assert claim(session, consumer="routing-a", event_id="e1", now=NOW) is False
