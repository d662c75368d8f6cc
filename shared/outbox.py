"""The outbox: events are written with the state change and published by a relay after commit."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from opentelemetry import context as otel_context
from opentelemetry import propagate
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
    """What the relay needs of a broker: a JetStream publish that returns the PubAck."""

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


class OutboxRelay:
    """Publishes unsent outbox rows in order; marks a row sent only after JetStream's PubAck."""

    def __init__(
        self,
        *,
        engine: Engine,
        publisher: Publisher,
        clock: Clock,
        interval: float = 0.25,
        batch: int = 100,
        is_connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._is_connected = is_connected
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Ask the relay to look at the outbox now rather than at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the relay loop to finish."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Relay until stopped; errors are logged and retried, never swallowed silently."""
        while not self._stopping:
            sent = 0
            if self._is_connected():
                try:
                    sent = await self.relay_once()
                except Exception as error:
                    log.error("outbox relay failed: %s", type(error).__name__)
            if sent >= self._batch:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; return how many were confirmed."""
        with unit_of_work(self._engine) as session:
            query = (
                select(OutboxRow)
                .where(col(OutboxRow.sent_at).is_(None))
                .order_by(col(OutboxRow.id))
                .limit(self._batch)
            )
            if is_postgres(self._engine):
                # Several instances of a service share one outbox without publishing a row twice.
                query = query.with_for_update(skip_locked=True)
            sent = 0
            try:
                for row in session.exec(query).all():
                    try:
                        await self._publish(row)
                    except Exception as error:
                        row.attempts += 1
                        row.last_error = type(error).__name__
                        session.add(row)
                        raise
                    row.sent_at = self._clock.now()
                    row.attempts += 1
                    session.add(row)
                    sent += 1
            finally:
                session.commit()
            return sent

    async def _publish(self, row: OutboxRow) -> None:
        carrier = json.loads(row.headers)
        token = otel_context.attach(propagate.extract(carrier))
        try:
            payload = json.loads(row.payload)
            await self._publisher.publish(
                payload,
                row.subject,
                # Nats-Msg-Id = event_id: a re-publish after a crash is dropped by JetStream.
                headers={"Nats-Msg-Id": row.event_id},
                correlation_id=payload.get("correlation_id"),
                stream=stream_for(row.subject),
                timeout=5.0,
            )
        finally:
            otel_context.detach(token)


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
