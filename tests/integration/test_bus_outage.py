"""A database outage is not the message's fault: the message waits for it, spending no retry.

With two instances of a service, or its database restarting, a handler fails with an
OperationalError (connection refused, dropped, "starting up") or, racing its twin on the same
row, with an IntegrityError. Nak-ing those with the retry delays (1, 5, 30, 120 s) left
messages waiting minutes after the database was back; they are retried in place instead.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.bus import RetryPolicy, durable_subscriber, make_broker
from tests.bus_helpers import connected, read_stream
from tests.integration.test_bus import running, unique
from tests.waiting import eventually

# Retry delays long enough that a nak would show: the test would wait for them.
SLOW = RetryPolicy(delays=(30.0, 30.0), ack_wait=5.0, outage_wait=10.0)


def _outage() -> OperationalError:
    return OperationalError("select 1", {}, Exception("server closed the connection"))


def _conflict() -> IntegrityError:
    return IntegrityError("insert", {}, Exception("duplicate key value"))


@pytest.mark.parametrize(("make_error", "failures"), [(_outage, 4), (_conflict, 1)])
async def test_database_failures_are_retried_in_place_on_the_first_delivery(
    nats_url: str, make_error: Any, failures: int
) -> None:
    subject = f"qorgau.casework.{unique('outage')}.v1"
    purpose = unique("outage")
    broker = make_broker(nats_url, service="casework", tracer_provider=TracerProvider())
    attempts: list[float] = []
    handled: list[dict[str, Any]] = []

    @durable_subscriber(broker, subject, service="casework", purpose=purpose, retry=SLOW)
    async def handle(body: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= failures:
            raise make_error()
        handled.append(body)

    event_id = str(uuid.uuid4())
    async with running(broker):
        await broker.publish(
            {"event_id": event_id},
            subject,
            stream="CASEWORK",
            headers={"Nats-Msg-Id": event_id},
        )
        await eventually(lambda: handled, "the message handled once the database answers")
        async with connected(nats_url) as (_, js):
            durable = f"casework-{purpose}"

            async def settled() -> bool:
                info = await js.consumer_info("CASEWORK", durable)
                return not info.num_ack_pending and not info.num_pending

            await eventually(settled, "the ack to reach the server")
            info = await js.consumer_info("CASEWORK", durable)
            # One delivery: no nak, no retry delay spent, nothing dead-lettered.
            assert info.delivered.consumer_seq == 1
        dlq_subject = f"qorgau.dlq.casework.{subject.split('.')[2]}.v1"
        assert await read_stream(nats_url, "DLQ", subject=dlq_subject) == []

    assert handled == [{"event_id": event_id}]
    assert len(attempts) == failures + 1
    # Well within the first retry delay (30 s): it did not wait for a redelivery.
    assert attempts[-1] - attempts[0] < 10.0


async def test_an_outage_longer_than_the_wait_falls_back_to_the_retry_delays(
    nats_url: str,
) -> None:
    subject = f"qorgau.casework.{unique('long')}.v1"
    purpose = unique("long")
    quick = RetryPolicy(delays=(0.2,), ack_wait=5.0, outage_wait=0.5)
    broker = make_broker(nats_url, service="casework", tracer_provider=TracerProvider())
    deliveries: list[int] = []

    @durable_subscriber(broker, subject, service="casework", purpose=purpose, retry=quick)
    async def handle(body: dict[str, Any]) -> None:
        raise _outage()

    event_id = str(uuid.uuid4())
    async with running(broker):
        await broker.publish(
            {"event_id": event_id}, subject, stream="CASEWORK", headers={"Nats-Msg-Id": event_id}
        )
        dlq_subject = f"qorgau.dlq.casework.{subject.split('.')[2]}.v1"

        async def dead_lettered() -> list[Any]:
            found = await read_stream(nats_url, "DLQ", subject=dlq_subject)
            deliveries[:] = [len(found)]
            return found

        # A database down for good still ends in the DLQ with an alert, never silently.
        await eventually(dead_lettered, "the message dead-lettered after its retries")
