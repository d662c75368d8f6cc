"""The relay's batches against a real nats-server: many publishes in flight, each confirmed.

A batch is published without waiting between rows; a row is marked sent only once its PubAck
is back, and a row whose publish failed stays unsent with its error, to be published again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import nats
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import col, select

from shared.bus import make_broker
from shared.clock import FixedClock
from shared.contracts.intake import ReportReceived
from shared.db import unit_of_work
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, OutboxRow, pending_count, stage
from tests.bus_helpers import read_stream
from tests.integration.test_outbox import NOW, make_event

ROWS = 500


def stage_events(engine: Engine, events: list[tuple[ReportReceived, str | None]]) -> None:
    """Stage events (on their own subject, or the one given) in one committed transaction."""
    with unit_of_work(engine) as session:
        for event, subject in events:
            stage(session, event, now=NOW, subject=subject)
        session.commit()


def outbox(engine: Engine) -> list[OutboxRow]:
    """Every outbox row, in the order of staging."""
    with unit_of_work(engine) as session:
        rows = list(session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all())
        # Read before the unit of work ends, which expires what it loaded.
        session.expunge_all()
        return rows


async def stored_ids(url: str, stream: str = "INTAKE") -> list[str]:
    """The Nats-Msg-Id of every message in a stream, in stream order."""
    return [
        str((message.headers or {}).get("Nats-Msg-Id"))
        for message in await read_stream(url, stream)
    ]


async def test_a_batch_of_500_is_published_once_each_in_order_with_its_own_trace(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    engine = migrated_engine("intake")
    # Each event is staged inside a trace of its own, as each request's would be.
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    trace_of: dict[str, str] = {}
    with unit_of_work(engine) as session:
        for _ in range(ROWS):
            event = make_event()
            with tracer.start_as_current_span("request") as span:
                stage(session, event, now=NOW)
            trace_of[str(event.event_id)] = format(span.get_span_context().trace_id, "032x")
        session.commit()
    broker = make_broker(nats_restartable.url, service="intake")
    await broker.connect()
    try:
        relay = OutboxRelay(
            engine=engine, publisher=broker, clock=FixedClock(NOW), tracer_provider=provider
        )
        sent = 0
        while pending_count(engine):
            sent += await relay.relay_once()
    finally:
        await broker.stop()
    assert sent == ROWS
    rows = outbox(engine)
    assert all(row.sent_at == NOW and row.attempts == 1 for row in rows)
    messages = await read_stream(nats_restartable.url, "INTAKE")
    # Exactly once each, and in the order the rows were staged (one connection, in order).
    assert [str((m.headers or {}).get("Nats-Msg-Id")) for m in messages] == [
        row.event_id for row in rows
    ]
    for message in messages:
        headers = message.headers or {}
        # The message continues the trace its row was staged in, not a neighbour's.
        assert headers["traceparent"].split("-")[1] == trace_of[headers["Nats-Msg-Id"]]
        assert headers["content-type"] == "application/json"


async def test_a_row_whose_publish_fails_stays_unsent_while_the_others_are_confirmed(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    engine = migrated_engine("intake")
    # No stream stores the family centre's subjects on this server: its publish is refused.
    connection = await nats.connect(nats_restartable.url)
    try:
        await connection.jetstream().delete_stream("FAMILYCENTRE")
    finally:
        await connection.close()
    events = [(make_event(), None) for _ in range(ROWS)]
    refused = make_event()
    events.insert(ROWS // 2, (refused, "qorgau.familycentre.test_refused.v1"))
    stage_events(engine, events)
    broker = make_broker(nats_restartable.url, service="intake")
    await broker.connect()
    try:
        relay = OutboxRelay(engine=engine, publisher=broker, clock=FixedClock(NOW))
        confirmed = 0
        for _ in range(5):
            confirmed += await relay.relay_once()
    finally:
        await broker.stop()
    assert confirmed == ROWS
    rows = {row.event_id: row for row in outbox(engine)}
    failed = rows.pop(str(refused.event_id))
    assert failed.sent_at is None
    # Tried once per batch it was in, each time refused by the server.
    assert failed.attempts == 5
    assert failed.last_error == "NoStreamResponseError"
    assert all(row.sent_at == NOW and row.last_error is None for row in rows.values())
    assert Counter(await stored_ids(nats_restartable.url)) == Counter(dict.fromkeys(rows, 1))


class KillAfter:
    """JetStream as the relay sees it; the server is killed after a number of publishes."""

    def __init__(self, jetstream: Any, server: NatsServer, after: int) -> None:
        self.jetstream = jetstream
        self.server = server
        self.after = after
        self.calls = 0

    async def publish_async(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        """Publish for real; kill the server once `after` publishes have been handed over."""
        self.calls += 1
        if self.calls == self.after + 1:
            self.server.kill()
        return await self.jetstream.publish_async(subject, payload, **kwargs)


async def test_a_server_killed_mid_batch_leaves_unconfirmed_rows_unsent_then_all_once(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    engine = migrated_engine("intake")
    stage_events(engine, [(make_event(), None) for _ in range(ROWS)])
    connection = await nats.connect(
        nats_restartable.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    try:
        relay = OutboxRelay(
            engine=engine,
            publisher=KillAfter(connection.jetstream(), nats_restartable, after=200),
            clock=FixedClock(NOW),
            batch=ROWS,
            # A window of 50: when the server dies, the first 150 or more have their PubAcks.
            in_flight=50,
            ack_timeout=2.0,
        )
        outcome = await relay.relay_batch()
        rows = outbox(engine)
        sent = {row.event_id for row in rows if row.sent_at is not None}
        unsent = [row for row in rows if row.sent_at is None]
        # The publishes confirmed before the kill are marked sent; the rest wait, with the reason.
        assert outcome.read == ROWS and 150 <= outcome.confirmed == len(sent) <= 200
        assert len(unsent) >= ROWS - 200
        assert all(row.attempts == 1 and row.last_error for row in unsent)
        nats_restartable.start()
        # Every row marked sent is stored: it was marked only after its PubAck.
        assert sent <= set(await stored_ids(nats_restartable.url))
        # The rest go out once the server is back; a row that reached the stream before the
        # kill (its PubAck lost) is dropped by its Nats-Msg-Id.
        for _ in range(20):
            if not pending_count(engine):
                break
            await relay.relay_once()
    finally:
        await connection.close()
    assert pending_count(engine) == 0
    assert Counter(await stored_ids(nats_restartable.url)) == Counter(
        {row.event_id: 1 for row in outbox(engine)}
    )
