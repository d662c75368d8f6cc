"""Two instances of a service share one outbox: every row is published once, by one of them.

On PostgreSQL the relay claims its batch `FOR UPDATE SKIP LOCKED`, so the second instance
takes the rows after the first one's instead of the same ones. Counted here is what each relay
hands to the broker, not what the stream keeps (JetStream's dedup would hide a double).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import nats
import pytest
from sqlalchemy import Engine

from shared.clock import FixedClock
from shared.db import make_engine, unit_of_work
from shared.outbox import OutboxRelay, pending_count, stage
from tests.integration.test_outbox import NOW, make_event

ROWS = 300


class Counting:
    """JetStream as a relay sees it, counting every event id handed to it."""

    def __init__(self, jetstream: Any, counts: Counter[str], name: str, by: Counter[str]) -> None:
        self.jetstream = jetstream
        self.counts = counts
        self.name = name
        self.by = by

    async def publish_async(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        """Publish for real, after counting the event."""
        self.counts[json.loads(payload)["event_id"]] += 1
        self.by[self.name] += 1
        # A publish takes a moment: the other relay runs meanwhile.
        await asyncio.sleep(0)
        return await self.jetstream.publish_async(subject, payload, **kwargs)


async def test_two_relays_on_one_postgres_outbox_publish_each_row_once(
    postgres_admin: str, migrated_engine: Callable[[str], Engine], nats_url: str
) -> None:
    del postgres_admin
    engine = migrated_engine("intake")
    if engine.dialect.name != "postgresql":
        pytest.skip("one SQLite file serves one process: two instances need PostgreSQL")
    with unit_of_work(engine) as session:
        for _ in range(ROWS):
            stage(session, make_event(), now=NOW)
        session.commit()
    # Each instance has its own engine (its own connections), as two processes do.
    other = make_engine(engine.url.render_as_string(hide_password=False))
    counts: Counter[str] = Counter()
    by: Counter[str] = Counter()
    connection = await nats.connect(nats_url)
    try:
        relays = [
            OutboxRelay(
                engine=bound,
                publisher=Counting(connection.jetstream(), counts, name, by),
                clock=FixedClock(NOW),
                batch=25,
            )
            for bound, name in ((engine, "first"), (other, "second"))
        ]

        async def drain(relay: OutboxRelay) -> None:
            for _ in range(ROWS):
                if not await relay.relay_once():
                    return

        await asyncio.gather(*(drain(relay) for relay in relays))
    finally:
        await connection.close()
        other.dispose()

    assert pending_count(engine) == 0
    assert len(counts) == ROWS
    assert set(counts.values()) == {1}, "a row was published twice"
    # Both did share the work.
    assert by["first"] and by["second"], by
