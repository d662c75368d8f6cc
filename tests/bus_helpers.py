"""Reading streams and publishing events in tests, as the platform's parties do over NATS.

- `read_stream(url, stream, subject=...)`: every message a stream holds (on one subject, if
  given), oldest first, read through a consumer named after the URL's NATS user, so that a
  restricted user (an agency, the operator) reads only what its permissions let it.
- `publish_events(url, *events, ...)`: publish contract events as routing and the agencies'
  systems do: JetStream, with the event id as `Nats-Msg-Id`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import natsauth

# Long enough for a loaded machine, short enough that a missing message fails the test.
TIMEOUT = 5.0


class Event(Protocol):
    """A contract event: what `publish_event` needs of it."""

    event_id: uuid.UUID

    def model_dump_json(self) -> str:
        """Return the event's JSON."""
        ...


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """Connect as the URL's user (with its inbox prefix), without reconnecting; close after."""
    client = await nats.connect(
        **natsauth.connect_options(url),
        allow_reconnect=False,
        connect_timeout=TIMEOUT,
    )
    try:
        yield client, client.jetstream(timeout=TIMEOUT)
    finally:
        await client.close()


async def read_stream(url: str, stream: str, *, subject: str | None = None) -> list[Msg]:
    """Return every message of a stream (on one subject, if given), oldest first."""
    # A restricted user may only create consumers named after itself (shared.natsauth).
    name = natsauth.user_of(url) or f"reader_{uuid.uuid4().hex[:12]}"
    inbox = f"{natsauth.inbox_prefix_for(url)}.".encode()
    async with connected(url) as (_, js):
        info = await js.add_consumer(
            stream,
            ConsumerConfig(
                name=name,
                filter_subject=subject,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=60,
            ),
        )
        try:
            pending = info.num_pending or 0
            if not pending:
                return []
            reader = await js.pull_subscribe_bind(
                durable=None, stream=stream, name=name, inbox_prefix=inbox
            )
            found: list[Msg] = []
            while len(found) < pending:
                found += await reader.fetch(min(100, pending - len(found)), timeout=TIMEOUT)
            return found
        finally:
            await js.delete_consumer(stream, name)


async def read_payloads(
    url: str, stream: str, *, subject: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Return every message of a stream (on one subject, if given) as (subject, payload)."""
    return [
        (message.subject, json.loads(message.data))
        for message in await read_stream(url, stream, subject=subject)
    ]


async def publish_events(
    url: str, *events: Event, subject: str | None = None, stream: str | None = None
) -> None:
    """Publish events on JetStream, each with its id as Nats-Msg-Id (subject: the event's own)."""
    async with connected(url) as (_, js):
        for event in events:
            await js.publish(
                subject if subject is not None else _own_subject(event),
                event.model_dump_json().encode(),
                stream=stream,
                headers={"Nats-Msg-Id": str(event.event_id)},
            )


def _own_subject(event: Event) -> str:
    subject = getattr(event, "subject", None)
    if subject is None:
        raise TypeError(f"{type(event).__name__} names no subject of its own: pass one")
    return str(subject())
