"""The outbox: events are written with the state change and published by a relay after commit."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from faststream.nats import NatsBroker
from nats.js.api import PubAck
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider
from sqlalchemy import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from shared.clock import Clock
from shared.contracts.envelope import Event
from shared.db import AwareDateTime, is_postgres, unit_of_work
from shared.streams import stream_for

log = logging.getLogger(__name__)


class OutboxRow(SQLModel, table=True):
    """An event waiting to be published, or already published (rows are kept for replay)."""

    __tablename__ = "outbox"
    # One event may go to two subjects (a stream for integrators, an agency's own subject).
    __table_args__ = (sa.UniqueConstraint("subject", "event_id", name="uq_outbox_subject_event"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64)
    subject: str = Field(max_length=200)
    payload: str
    headers: str = "{}"
    created_at: datetime = Field(sa_type=AwareDateTime())  # type: ignore[call-overload]
    sent_at: datetime | None = Field(default=None, sa_type=AwareDateTime(), index=True)  # type: ignore[call-overload]
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)


def outbox_row(event: Event, *, now: datetime, subject: str | None = None) -> OutboxRow:
    """The outbox row of an event, with the current trace (for callers that insert in bulk)."""
    carrier: dict[str, str] = {}
    # The trace context travels with the row so the relay continues the request's trace.
    propagate.inject(carrier)
    return OutboxRow(
        event_id=str(event.event_id),
        subject=subject or event.subject(),
        payload=event.model_dump_json(),
        headers=json.dumps(carrier),
        created_at=now,
    )


def stage(session: Session, event: Event, *, now: datetime, subject: str | None = None) -> None:
    """Add an event to the outbox inside the caller's transaction, with the current trace."""
    session.add(outbox_row(event, now=now, subject=subject))


class Publisher(Protocol):
    """A broker's JetStream publish that returns the PubAck (what the audit checkpoints use)."""

    async def publish(
        self,
        message: Any,
        subject: str,
        headers: dict[str, str] | None = None,
        reply_to: str = "",
        correlation_id: str | None = None,
        stream: str | None = None,
        timeout: float | None = None,
    ) -> Any: ...


class JetStreamPublisher(Protocol):
    """What the relay publishes through: nats-py's JetStream publish returning a PubAck future."""

    async def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: float | None = None,
        stream: str | None = None,
        headers: dict[str, Any] | None = None,
        msg_ttl: float | None = None,
    ) -> asyncio.Future[PubAck]: ...


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch of the relay came to: rows read, rows confirmed, rows that failed."""

    read: int
    confirmed: int
    failed: int


class OutboxRelay:
    """Publishes unsent outbox rows in order; marks a row sent only after JetStream's PubAck.

    A batch of rows is published without waiting between them (many PubAcks in flight), in the
    rows' order on one connection, so the server receives them in that order. The rows whose
    PubAck came are marked sent in one statement, in one transaction; a row whose publish failed
    or timed out stays unsent (attempts and last_error updated) and goes out in a later batch.
    So after a failure mid-batch a later row of the same subject may be stored before an
    earlier one is retried: consumers do not rely on order across events (deadlines keeps an
    early fulfilment pending until its obligation opens; every consumer has an inbox), and the
    retry carries the same Nats-Msg-Id, so JetStream keeps one copy of each event.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        publisher: NatsBroker | JetStreamPublisher,
        clock: Clock,
        interval: float = 0.25,
        batch: int = 256,
        in_flight: int = 256,
        ack_timeout: float = 5.0,
        is_connected: Callable[[], bool] = lambda: True,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._in_flight = max(1, in_flight)
        self._ack_timeout = ack_timeout
        self._is_connected = is_connected
        self._tracer = (
            tracer_provider.get_tracer(__name__)
            if tracer_provider is not None
            else trace.get_tracer(__name__)
        )
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stopping = False
        # The JetStream context of the broker's current connection (a reconnect by broker.start
        # after broker.stop makes a new connection, and with it a new context).
        self._jetstream: tuple[object, JetStreamPublisher] | None = None

    def wake(self) -> None:
        """Ask the relay to look at the outbox now rather than at the next tick."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            # From a handler's thread: an asyncio.Event is set only on its own loop.
            loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """Ask the relay loop to finish."""
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        """Relay until stopped; errors are logged and retried, never swallowed silently."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        while not self._stopping:
            # Cleared before the batch, not after: a commit that wakes the relay while a batch
            # is in flight is picked up by the next batch at once, not at the next tick.
            self._wake.clear()
            outcome = BatchOutcome(read=0, confirmed=0, failed=0)
            if self._is_connected():
                try:
                    outcome = await self.relay_batch()
                except Exception as error:
                    log.error("outbox relay failed: %s", type(error).__name__)
                    outcome = BatchOutcome(read=0, confirmed=0, failed=1)
            if outcome.failed and not outcome.confirmed:
                # Nothing got through (NATS away, the database away): wait before trying again,
                # even if commits keep waking the relay.
                await asyncio.sleep(self._interval)
                continue
            if outcome.read >= self._batch:
                # A full batch: there is more to send, so no pause.
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; return how many were confirmed."""
        return (await self.relay_batch()).confirmed

    async def relay_batch(self) -> BatchOutcome:
        """Publish one batch of unsent rows with every PubAck in flight; mark the confirmed sent."""
        jetstream = self._current_jetstream()
        with unit_of_work(self._engine) as session:
            query = (
                sa.select(
                    col(OutboxRow.id),
                    col(OutboxRow.event_id),
                    col(OutboxRow.subject),
                    col(OutboxRow.payload),
                    col(OutboxRow.headers),
                )
                .where(col(OutboxRow.sent_at).is_(None))
                .order_by(col(OutboxRow.id))
                .limit(self._batch)
            )
            if is_postgres(self._engine):
                # Several instances of a service share one outbox without publishing a row twice:
                # the rows stay locked until this transaction marks them, after their PubAcks.
                query = query.with_for_update(skip_locked=True)
            rows = [
                _Pending(int(row_id or 0), event_id, subject, payload, headers)
                for row_id, event_id, subject, payload, headers in session.connection()
                .execute(query)
                .all()
            ]
            if not rows:
                return BatchOutcome(read=0, confirmed=0, failed=0)
            errors = await self._publish_all(jetstream, rows)
            confirmed = [row.id for row, name in zip(rows, errors, strict=True) if name is None]
            failed: dict[str, list[int]] = {}
            for row, name in zip(rows, errors, strict=True):
                if name is not None:
                    failed.setdefault(name, []).append(row.id)
            if confirmed:
                session.exec(
                    sa.update(OutboxRow)
                    .where(col(OutboxRow.id).in_(confirmed))
                    .values(sent_at=self._clock.now(), attempts=OutboxRow.attempts + 1)
                )
            for name, ids in failed.items():
                session.exec(
                    sa.update(OutboxRow)
                    .where(col(OutboxRow.id).in_(ids))
                    .values(attempts=OutboxRow.attempts + 1, last_error=name)
                )
            session.commit()
        if failed:
            log.warning(
                "outbox relay: %d of %d events not confirmed (%s); they stay pending",
                sum(len(ids) for ids in failed.values()),
                len(rows),
                ", ".join(sorted(failed)),
            )
        return BatchOutcome(
            read=len(rows), confirmed=len(confirmed), failed=len(rows) - len(confirmed)
        )

    def _current_jetstream(self) -> JetStreamPublisher:
        if not isinstance(self._publisher, NatsBroker):
            return self._publisher
        # FastStream keeps the nats-py client it connected with here (see runtime's
        # broker_connected); its own publish waits for each PubAck before returning.
        connection = getattr(self._publisher, "_connection", None)
        if connection is None:
            raise ConnectionError("the broker is not connected")
        if self._jetstream is None or self._jetstream[0] is not connection:
            self._jetstream = (connection, connection.jetstream())
        return self._jetstream[1]

    async def _publish_all(
        self, jetstream: JetStreamPublisher, rows: list[_Pending]
    ) -> list[str | None]:
        """Publish the rows in order, up to in_flight unconfirmed; return each one's error."""
        loop = asyncio.get_running_loop()
        errors: list[str | None] = [None] * len(rows)
        sent: list[asyncio.Future[PubAck]] = []
        # The publishes still waiting for their PubAck, oldest first, with their deadlines.
        waiting: deque[tuple[int, asyncio.Future[PubAck], float]] = deque()
        spans: list[Span] = []

        async def settle_oldest() -> None:
            index, future, deadline = waiting.popleft()
            # PubAcks come back in the order of the publishes: the oldest is the next one due.
            await asyncio.wait((future,), timeout=max(0.0, deadline - loop.time()))
            if not future.done():
                errors[index] = "TimeoutError"
            elif (refused := future.exception()) is not None:
                errors[index] = type(refused).__name__

        try:
            for index, row in enumerate(rows):
                if len(waiting) >= self._in_flight:
                    await settle_oldest()
                span, headers = self._traced_headers(row)
                spans.append(span)
                try:
                    # Each call only writes the message to the connection's buffer and returns
                    # the future of its PubAck: the rows leave in order, one after the other.
                    future = await jetstream.publish_async(
                        row.subject,
                        row.payload.encode(),
                        stream=stream_for(row.subject),
                        headers=headers,
                    )
                except Exception as error:
                    errors[index] = type(error).__name__
                    continue
                sent.append(future)
                waiting.append((index, future, loop.time() + self._ack_timeout))
            while waiting:
                await settle_oldest()
        finally:
            # A PubAck still missing (timed out, or the relay cancelled) is given up: the row
            # stays unsent, and its slot among nats-py's pending publishes is freed.
            for future in sent:
                future.cancel()
            for index, _future, _deadline in waiting:
                errors[index] = errors[index] or "CancelledError"
            for span, name in zip(spans, errors, strict=False):
                if name is not None:
                    span.set_status(Status(StatusCode.ERROR, name))
                span.end()
        return errors

    def _traced_headers(self, row: _Pending) -> tuple[Span, dict[str, str]]:
        """Open the row's publish span in the trace it was staged in; return it and the headers."""
        # The row's own context, passed explicitly rather than attached: many publishes are in
        # flight at once, and each must continue the trace of the request that staged it.
        staged = propagate.extract(json.loads(row.headers))
        span = self._tracer.start_span(
            f"{row.subject} publish",
            context=staged,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": row.subject,
                "messaging.operation": "publish",
                "messaging.message.id": row.event_id,
            },
        )
        correlation_id = json.loads(row.payload).get("correlation_id") or row.event_id
        headers = {
            # As FastStream's own publish writes them, so its subscribers decode the body alike.
            "content-type": "application/json",
            "correlation_id": str(correlation_id),
            # Nats-Msg-Id = event_id: a re-publish after a crash is dropped by JetStream.
            "Nats-Msg-Id": row.event_id,
        }
        propagate.inject(headers, context=trace.set_span_in_context(span, staged))
        return span, headers


@dataclass(frozen=True)
class _Pending:
    """The columns of an unsent row that publishing it needs."""

    id: int
    event_id: str
    subject: str
    payload: str
    headers: str


def pending_count(engine: Engine) -> int:
    """Count the events still waiting to be published."""
    with unit_of_work(engine) as session:
        return int(
            session.exec(
                select(sa.func.count())
                .select_from(OutboxRow)
                .where(col(OutboxRow.sent_at).is_(None))
            ).one()
        )
