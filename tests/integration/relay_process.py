"""A relay process for crash tests: stage an event and commit, then crash where told.

python -m tests.integration.relay_process DB_URL NATS_URL MODE EVENT_ID
  MODE=crash-after-commit: commit the state change with its outbox row, then SIGKILL itself
       before the relay publishes anything;
  MODE=crash-after-publish: publish through the real broker and SIGKILL itself before the
       row is marked sent;
  MODE=relay: just run the relay until the outbox is empty.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import nats

from shared.bus import make_broker
from shared.clock import SystemClock
from shared.contracts.intake import ReportReceived
from shared.db import make_engine, migrate, unit_of_work
from shared.outbox import OutboxRelay, pending_count, stage


def _event(event_id: str) -> ReportReceived:
    now = datetime.now(UTC)
    return ReportReceived(
        event_id=uuid.UUID(event_id),
        occurred_at=now,
        case_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        reporter_agency_type="police",
        region="KZ-75",
        channel="duties",
        received_at=now,
        subject_kind="minor",
        concerns=("violence",),
    )


class _DieAfterPublish:
    """JetStream as the relay sees it, killing the process once the first PubAck is back."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def publish_async(self, *args: Any, **kwargs: Any) -> Any:
        future = await self._inner.publish_async(*args, **kwargs)
        await future
        os.kill(os.getpid(), signal.SIGKILL)
        return future


async def main(db_url: str, nats_url: str, mode: str, event_id: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "intake")
    if mode != "relay":
        with unit_of_work(engine) as session:
            stage(session, _event(event_id), now=datetime.now(UTC))
            session.commit()
    if mode == "crash-after-commit":
        os.kill(os.getpid(), signal.SIGKILL)
    broker = make_broker(nats_url, service="intake")
    await broker.connect()
    publisher: Any = broker
    if mode == "crash-after-publish":
        connection = await nats.connect(nats_url)
        publisher = _DieAfterPublish(connection.jetstream())
    relay = OutboxRelay(engine=engine, publisher=publisher, clock=SystemClock())
    while pending_count(engine):
        await relay.relay_once()
    await broker.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
