"""Consuming in batches against a real nats-server, on SQLite and PostgreSQL.

One transaction per batch with an inbox row per message, acks after the commit; a poison
message in a batch is retried alone and dead-lettered while the others commit once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from faststream.nats import NatsBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Field, Session, SQLModel, select

from shared.bus import BatchHandler, RetryPolicy, batch_subscriber, make_broker
from shared.db import make_engine
from shared.inbox import InboxEntry
from tests.bus_helpers import connected, read_stream
from tests.waiting import eventually

FAST = RetryPolicy(delays=(0.2, 0.2), ack_wait=5.0)
INBOX = "casework-batch-test"
PERSONAL = "Aigerim Nurlanovna, IIN 900101300123"


class BatchRow(SQLModel, table=True):
    """What the test handler writes: one row per applied event."""

    __tablename__ = "batch_test_rows"

    event_id: str = Field(primary_key=True, max_length=64)
    n: int


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    SQLModel.metadata.create_all(engine, tables=[InboxEntry.__table__, BatchRow.__table__])  # type: ignore[list-item]
    yield engine
    engine.dispose()


def commits(engine: Engine) -> list[int]:
    """Count the engine's commits from now on."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _connection: seen.append(1))
    return seen


def rows(engine: Engine) -> list[BatchRow]:
    with Session(engine) as session:
        return list(session.exec(select(BatchRow)))


def inbox(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(e.event_id for e in session.exec(select(InboxEntry)) if e.consumer == INBOX)


def decode(_subject: str, data: bytes) -> dict[str, Any]:
    return dict(json.loads(data))


def apply(session: Session, body: dict[str, Any]) -> None:
    if body.get("poison"):
        raise ValueError(PERSONAL)
    session.add(BatchRow(event_id=body["event_id"], n=body["n"]))


HANDLER = BatchHandler[dict[str, Any]](
    inbox=INBOX, decode=decode, event_id=lambda body: str(body["event_id"]), apply=apply
)


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running(broker: NatsBroker) -> AsyncIterator[NatsBroker]:
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def publish(nats_url: str, subject: str, bodies: list[dict[str, Any]]) -> int:
    """Publish bodies in order (each with its own Nats-Msg-Id); return the last sequence."""
    last = 0
    async with connected(nats_url) as (_, js):
        for body in bodies:
            ack = await js.publish(
                subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
            )
            last = ack.seq
    return last


async def settled(nats_url: str, durable: str, last: int) -> bool:
    async with connected(nats_url) as (_, js):
        info = await js.consumer_info("CASEWORK", durable)
    return info.ack_floor.stream_seq >= last and not info.num_ack_pending and not info.num_pending


async def test_a_batch_is_one_transaction_with_an_inbox_row_per_message(
    nats_url: str, engine: Engine
) -> None:
    subject = f"qorgau.casework.{unique('batch')}.v1"
    purpose = unique("batch")
    durable = f"casework-{purpose}"
    bodies = [{"event_id": str(uuid.uuid4()), "n": n} for n in range(20)]
    # The same event twice in one batch (a producer's retry with a new Nats-Msg-Id).
    bodies.insert(10, dict(bodies[3]))
    last = await publish(nats_url, subject, bodies)
    seen = commits(engine)
    woken: list[int] = []
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    broker = make_broker(nats_url, service="casework", tracer_provider=provider)
    batch_subscriber(
        broker,
        subject,
        service="casework",
        purpose=purpose,
        engine=engine,
        handle=HANDLER,
        retry=FAST,
        batch_size=50,
        on_commit=lambda: woken.append(1),
    )

    async with running(broker):
        await eventually(lambda: settled(nats_url, durable, last), "every message acked")

    assert sorted(r.n for r in rows(engine)) == list(range(20))
    assert inbox(engine) == sorted(str(b["event_id"]) for b in bodies[:10] + bodies[11:])
    # All 21 messages were there at the first fetch: one commit, one wake of the relay.
    assert len(seen) == 1
    assert len(woken) == 1
    # Each message has a span of its own, named as the per-message consumer names it.
    processed = [s for s in spans.get_finished_spans() if s.name == f"{subject} process"]
    assert len(processed) >= 21


async def test_a_message_the_consumer_passes_over_has_no_span(
    nats_url: str, engine: Engine
) -> None:
    subject = f"qorgau.casework.{unique('passed')}.v1"
    purpose = unique("passed")
    bodies = [{"event_id": str(uuid.uuid4()), "n": n, "theirs": n % 3 != 0} for n in range(12)]
    last = await publish(nats_url, subject, bodies)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    broker = make_broker(nats_url, service="casework", tracer_provider=provider)

    def ours(subject_: str, data: bytes) -> dict[str, Any] | None:
        body = decode(subject_, data)
        return None if body["theirs"] else body

    batch_subscriber(
        broker,
        subject,
        service="casework",
        purpose=purpose,
        engine=engine,
        handle=BatchHandler[dict[str, Any]](
            inbox=INBOX, decode=ours, event_id=lambda body: str(body["event_id"]), apply=apply
        ),
        retry=FAST,
    )
    async with running(broker):
        await eventually(
            lambda: settled(nats_url, f"casework-{purpose}", last), "every message acked"
        )

    assert sorted(r.n for r in rows(engine)) == [0, 3, 6, 9]
    # Only the four kept ones are traced, each linked to the batch's span (FastStream's, which
    # names a message id): nothing happened for the others.
    processed = [
        s
        for s in spans.get_finished_spans()
        if s.name == f"{subject} process" and "messaging.message.id" not in (s.attributes or {})
    ]
    assert len(processed) == 4
    assert all(len(s.links) == 1 for s in processed)


async def test_a_poison_message_is_dead_lettered_and_the_others_commit_once(
    nats_url: str, engine: Engine
) -> None:
    name = unique("poison")
    subject = f"qorgau.casework.{name}.v1"
    purpose = unique("poison")
    durable = f"casework-{purpose}"
    bodies: list[dict[str, Any]] = [{"event_id": str(uuid.uuid4()), "n": n} for n in range(10)]
    poison = {"event_id": str(uuid.uuid4()), "n": 99, "poison": True}
    bodies.insert(4, poison)
    last = await publish(nats_url, subject, bodies)
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    broker = make_broker(nats_url, service="casework", tracer_provider=provider)
    batch_subscriber(
        broker,
        subject,
        service="casework",
        purpose=purpose,
        engine=engine,
        handle=HANDLER,
        retry=FAST,
    )

    async with running(broker):
        dlq_subject = f"qorgau.dlq.casework.{name}.v1"
        dead = await eventually(
            lambda: read_stream(nats_url, "DLQ", subject=dlq_subject), "the dead letter"
        )

        async def alerts() -> list[Any]:
            found = await read_stream(
                nats_url, "CASEWORK", subject="qorgau.casework.message_dead_lettered.v1"
            )
            return [m for m in found if json.loads(m.data)["consumer"] == durable]

        (alert,) = await eventually(alerts, "the message_dead_lettered alert")
        await eventually(lambda: settled(nats_url, durable, last), "every message settled")

    assert sorted(r.n for r in rows(engine)) == list(range(10))
    assert str(poison["event_id"]) not in inbox(engine)
    assert len(inbox(engine)) == 10
    (letter,) = dead
    assert json.loads(letter.data) == poison
    assert letter.headers is not None
    assert letter.headers["Qorgau-Consumer"] == durable
    assert letter.headers["Qorgau-Error"] == "ValueError"
    assert letter.headers["Qorgau-Deliveries"] == str(FAST.attempts)
    assert json.loads(alert.data)["error_type"] == "ValueError"
    finished = spans.get_finished_spans()
    # The poison message's attempts name the error's class on their spans, never its text.
    failed = [s for s in finished if (s.attributes or {}).get("error.type") == "ValueError"]
    assert len(failed) == FAST.attempts
    everything = json.dumps(dict(letter.headers)) + alert.data.decode()
    everything += json.dumps([span.to_json() for span in finished])
    assert "Aigerim" not in everything
    assert "900101300123" not in everything


async def test_a_database_outage_is_waited_out_by_the_whole_batch(
    nats_url: str, engine: Engine
) -> None:
    subject = f"qorgau.casework.{unique('outage')}.v1"
    purpose = unique("outage")
    durable = f"casework-{purpose}"
    # Retry delays long enough that a nak would show: the test would wait for them.
    slow = RetryPolicy(delays=(30.0, 30.0), ack_wait=5.0, outage_wait=10.0)
    bodies = [{"event_id": str(uuid.uuid4()), "n": n} for n in range(10)]
    last = await publish(nats_url, subject, bodies)
    failures: list[int] = []

    def flaky(session: Session, body: dict[str, Any]) -> None:
        if len(failures) < 4:
            failures.append(1)
            raise OperationalError("insert", {}, Exception("server closed the connection"))
        apply(session, body)

    broker = make_broker(nats_url, service="casework", tracer_provider=TracerProvider())
    batch_subscriber(
        broker,
        subject,
        service="casework",
        purpose=purpose,
        engine=engine,
        handle=BatchHandler[dict[str, Any]](
            inbox=INBOX, decode=decode, event_id=lambda b: str(b["event_id"]), apply=flaky
        ),
        retry=slow,
    )

    async with running(broker):
        await eventually(lambda: settled(nats_url, durable, last), "every message acked")
        async with connected(nats_url) as (_, js):
            info = await js.consumer_info("CASEWORK", durable)

    assert sorted(r.n for r in rows(engine)) == list(range(10))
    # Waited in place: each message delivered once, none nacked or redelivered.
    assert info.delivered.consumer_seq == 10
    assert info.num_redelivered == 0
