"""The message bus plumbing every service uses: the broker, durable subscribers, dead letters.

A failed JetStream message is redelivered with growing delays; when its retries are spent it
is copied to the DLQ stream, an alert event is published, and only then is it acked. Nothing
is dropped silently and nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

from faststream import AckPolicy
from faststream.exceptions import AckMessage, IgnoredException, NackMessage
from faststream.middlewares import BaseMiddleware
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsNKey, NatsSecurity
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError
from opentelemetry import trace

from shared.clock import Clock, SystemClock
from shared.dbwait import DatabaseWait
from shared.natsauth import connect_options
from shared.streams import PREFIX, stream_for

if TYPE_CHECKING:
    from faststream._internal.basic_types import AsyncFuncAny
    from faststream._internal.context.repository import ContextRepo
    from faststream.message import StreamMessage
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEAD_LETTER_MARGIN",
    "DeadLetterMiddleware",
    "RetryPolicy",
    "alert_subject",
    "dead_letter_subject",
    "durable_subscriber",
    "make_broker",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Deliveries allowed beyond the retries, so that a dead letter whose publication failed (DLQ
# unreachable for a moment) is tried again before the server gives up on the message.
DEAD_LETTER_MARGIN = 5

# How long to wait for a PubAck of a dead letter or an alert.
PUBLISH_TIMEOUT = 5.0

# Headers JetStream interprets (Nats-Msg-Id, Nats-Expected-*, Nats-TTL, Nats-Schedule, ...) and
# FastStream's RPC reply address must not be copied onto a dead letter: they would act again.
_DROPPED_HEADER_PREFIXES = ("nats-",)
_DROPPED_HEADERS = frozenset({"reply_to"})

# Namespace of the alert event ids: one dead-lettering of one stored message by one consumer
# always gets the same id, so JetStream drops a repeated alert.
_ALERT_NAMESPACE = uuid.UUID("4f0c8c52-5e0f-4d7e-9d3b-2d5b0f6a9a11")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed message is redelivered before it is dead-lettered."""

    # Nak delay (seconds) after the 1st, 2nd, ... failed delivery; the delivery after the last
    # one is the final attempt, and its failure dead-letters the message.
    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    # Time the server waits for an ack before redelivering a message still being handled. An
    # instance killed with a batch in hand holds it this long; a handler takes milliseconds,
    # and one waiting for its database says so (in progress), so ten seconds is plenty.
    ack_wait: float = 10.0
    # How long a message waits in place for its database (down, restarting, or a twin instance
    # holding the same row) before the failure counts as one of its retries.
    outage_wait: float = 120.0

    def __post_init__(self) -> None:
        if any(delay < 0 for delay in self.delays):
            raise ValueError("retry delays must not be negative")
        if self.ack_wait <= 0:
            raise ValueError("ack_wait must be positive")
        if self.outage_wait < 0:
            raise ValueError("outage_wait must not be negative")

    @property
    def attempts(self) -> int:
        """Return how many failed deliveries dead-letter a message."""
        return len(self.delays) + 1

    @property
    def max_deliver(self) -> int:
        """Return the consumer's max_deliver: every attempt plus room to retry dead-lettering."""
        return self.attempts + DEAD_LETTER_MARGIN

    def delay_after(self, num_delivered: int) -> float | None:
        """Return the nak delay after a failed delivery, or None when it must be dead-lettered."""
        if 1 <= num_delivered <= len(self.delays):
            return self.delays[num_delivered - 1]
        return None

    @property
    def dead_letter_retry_delay(self) -> float:
        """Return the nak delay when dead-lettering itself failed."""
        return self.delays[-1] if self.delays else 1.0


def dead_letter_subject(subject: str) -> str:
    """Return the DLQ subject for a message's subject."""
    return f"{PREFIX}.dlq.{subject.removeprefix(PREFIX + '.')}"


def alert_subject(service: str) -> str:
    """Return the subject of the alert a service publishes when it dead-letters a message."""
    return f"{PREFIX}.{service}.message_dead_lettered.v1"


class DeadLetterMiddleware:
    """Broker middleware: retry failed JetStream messages with delays, then dead-letter them."""

    def __init__(
        self,
        broker: NatsBroker,
        *,
        service: str,
        retry: RetryPolicy,
        clock: Clock | None = None,
    ) -> None:
        self.broker = broker
        self.service = service
        self.default_retry = retry
        self.clock: Clock = clock or SystemClock()
        self.alert_subject = alert_subject(service)
        # Fails here, at start-up, rather than at the first dead letter.
        self.alert_stream = stream_for(self.alert_subject)
        self._policies: dict[str, RetryPolicy] = {}

    def register(self, consumer: str, retry: RetryPolicy) -> None:
        """Use a retry policy for one durable consumer."""
        known = self._policies.get(consumer)
        if known is not None and known != retry:
            raise ValueError(f"consumer {consumer!r} is already declared with another policy")
        self._policies[consumer] = retry

    def policy_for(self, consumer: str) -> RetryPolicy:
        """Return the retry policy of a consumer."""
        return self._policies.get(consumer, self.default_retry)

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _DeadLetterScope:
        """Return the middleware instance FastStream uses for one message or publication."""
        return _DeadLetterScope(msg, context=context, owner=self)

    async def handle_failure(self, message: NatsMessage, raw: Msg, error: Exception) -> NoReturn:
        """Nak a failed message with its delay, or dead-letter it; always raises for FastStream.

        Raises NackMessage or AckMessage: FastStream's acknowledgement middleware (outside this
        one) then finds the message already settled and does nothing more, and no handler
        publisher sends a result for a message that failed.
        """
        meta = raw.metadata
        consumer = meta.consumer
        policy = self.policy_for(consumer)
        error_type = type(error).__name__
        delay = policy.delay_after(meta.num_delivered)
        # The process span only sees NackMessage/AckMessage: name the real error, not its text.
        trace.get_current_span().set_attribute("error.type", error_type)

        if delay is not None:
            logger.warning(
                "handler failed, redelivering in %ss: subject=%s consumer=%s stream_seq=%d "
                "error=%s delivery=%d/%d",
                delay,
                raw.subject,
                consumer,
                meta.sequence.stream,
                error_type,
                meta.num_delivered,
                policy.attempts,
            )
            await message.nack(delay=delay)
            # `from None`: a chained traceback would carry the handler's exception text into
            # FastStream's log and the telemetry span.
            raise NackMessage(delay=delay) from None

        # Frames (file, line, code) but not the exception's text: it may hold personal data.
        frames = "".join(traceback.format_tb(error.__traceback__))
        try:
            await self.dead_letter(message, raw, error_type)
        except Exception as publish_error:
            delay = policy.dead_letter_retry_delay
            logger.error(
                "dead-lettering failed, redelivering in %ss: subject=%s consumer=%s "
                "stream_seq=%d error=%s publish_error=%s delivery=%d",
                delay,
                raw.subject,
                consumer,
                meta.sequence.stream,
                error_type,
                type(publish_error).__name__,
                meta.num_delivered,
            )
            await message.nack(delay=delay)
            raise NackMessage(delay=delay) from None

        logger.error(
            "message dead-lettered: subject=%s consumer=%s stream_seq=%d error=%s "
            "deliveries=%d\n%s",
            raw.subject,
            consumer,
            meta.sequence.stream,
            error_type,
            meta.num_delivered,
            frames,
        )
        try:
            # Wait for the server to take the ack, so a lost ack is seen here, not as a
            # mysterious redelivery; a redelivery is harmless anyway (both publishes dedupe).
            await message.ack_sync()
        except Exception as ack_error:
            logger.warning(
                "ack of dead-lettered message not confirmed: subject=%s consumer=%s error=%s",
                raw.subject,
                consumer,
                type(ack_error).__name__,
            )
        raise AckMessage() from None

    async def dead_letter(self, message: NatsMessage, raw: Msg, error_type: str) -> None:
        """Copy a message to the DLQ stream, then publish the alert event; wait for both PubAcks."""
        meta = raw.metadata
        consumer = meta.consumer
        original_headers = raw.headers or {}
        original_id = _header(original_headers, "Nats-Msg-Id")
        # The consumer is part of the id: two consumers failing on one event are two dead
        # letters, while the same consumer dead-lettering it again is a duplicate.
        source = original_id or f"{meta.stream}.{meta.sequence.stream}"
        dlq_id = f"{source}:dlq:{consumer}"

        headers = {
            key: value
            for key, value in original_headers.items()
            if key not in _DROPPED_HEADERS and not key.lower().startswith(_DROPPED_HEADER_PREFIXES)
        }
        headers.update(
            {
                "Nats-Msg-Id": dlq_id,
                "Qorgau-Original-Subject": raw.subject,
                "Qorgau-Original-Stream": meta.stream,
                "Qorgau-Original-Sequence": str(meta.sequence.stream),
                "Qorgau-Consumer": consumer,
                "Qorgau-Error": error_type,
                "Qorgau-Deliveries": str(meta.num_delivered),
            }
        )
        await self.broker.publish(
            raw.data,
            dead_letter_subject(raw.subject),
            headers=headers,
            correlation_id=message.correlation_id,
            stream=stream_for(dead_letter_subject(raw.subject)),
            timeout=PUBLISH_TIMEOUT,
        )

        event_id = str(
            uuid.uuid5(_ALERT_NAMESPACE, f"{meta.stream}:{meta.sequence.stream}:{consumer}")
        )
        alert = {
            "event_id": event_id,
            "occurred_at": self.clock.now().isoformat(),
            "schema_version": 1,
            "correlation_id": message.correlation_id,
            "causation_id": original_id,
            "service": self.service,
            "consumer": consumer,
            "original_subject": raw.subject,
            "original_stream": meta.stream,
            "original_sequence": meta.sequence.stream,
            "error_type": error_type,
            "deliveries": meta.num_delivered,
        }
        await self.broker.publish(
            alert,
            self.alert_subject,
            headers={"Nats-Msg-Id": event_id},
            correlation_id=message.correlation_id,
            stream=self.alert_stream,
            timeout=PUBLISH_TIMEOUT,
        )


class _DeadLetterScope(BaseMiddleware):
    """The per-message part of DeadLetterMiddleware."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, owner: DeadLetterMiddleware) -> None:
        super().__init__(msg, context=context)
        self.owner = owner

    async def consume_scope(self, call_next: AsyncFuncAny, msg: StreamMessage[Any]) -> Any:
        waiting = DatabaseWait()
        while True:
            try:
                return await call_next(msg)
            except IgnoredException:
                # AckMessage, NackMessage, RejectMessage, SkipMessage, StopConsume: deliberate.
                raise
            except Exception as error:
                raw = msg.raw_message
                if not (
                    isinstance(msg, NatsMessage) and isinstance(raw, Msg) and _is_unsettled_js(raw)
                ):
                    # Core NATS, batches, messages the handler already acked or nacked itself.
                    raise
                policy = self.owner.policy_for(raw.metadata.consumer)
                pause = waiting.pause(error, limit=policy.outage_wait)
                if pause is None:
                    await self.owner.handle_failure(msg, raw, error)
                    raise  # handle_failure always raises; this line is never reached
                # The database, not the message, failed: wait for it, telling the server the
                # message is still being handled so that it is not redelivered meanwhile.
                with contextlib.suppress(Exception):
                    await raw.in_progress()
                await asyncio.sleep(pause)


def _is_unsettled_js(raw: Msg) -> bool:
    if raw.is_acked:
        return False
    try:
        raw.metadata  # noqa: B018 - parses the JetStream reply subject
    except NotJSMessageError:
        return False
    return True


def _header(headers: dict[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def make_broker(
    url: str,
    *,
    service: str,
    tracer_provider: TracerProvider | None = None,
    retry: RetryPolicy = RetryPolicy(),
    clock: Clock | None = None,
    **kwargs: Any,
) -> NatsBroker:
    """Build a service's NATS broker: traces, retries with dead letters, endless reconnects."""
    # NATS_URL may list every node of a cluster: the client fails over between them. Its
    # credentials (an NKey seed) and TLS become the broker's security (shared.natsauth).
    connection = connect_options(url)
    servers = connection.pop("servers")
    security = _security(connection)
    middlewares = (
        NatsTelemetryMiddleware(tracer_provider=tracer_provider),
        *kwargs.pop("middlewares", ()),
    )
    options: dict[str, Any] = {
        "name": f"qorgau-{service}",
        # A long-lived service waits for NATS to come back instead of exiting.
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 2,
        "connect_timeout": 5,
        # Safety net for a JetStream subscriber declared without durable_subscriber: the
        # default (reject on error) would terminate a failed message, never redelivering it.
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        # Each NATS user may read only its own inbox subjects (shared.natsauth).
        "inbox_prefix": connection["inbox_prefix"],
    }
    if security is not None:
        options["security"] = security
    options.update(kwargs)
    broker = NatsBroker(servers, middlewares=middlewares, **options)
    # Added last, so it is the innermost: it sees the handler's own exception, and FastStream's
    # logging and the telemetry span see only NackMessage/AckMessage, not the exception text.
    broker.add_middleware(DeadLetterMiddleware(broker, service=service, retry=retry, clock=clock))
    return broker


def _security(connection: dict[str, Any]) -> NatsSecurity | None:
    """Return FastStream's security for the connection options: an NKey, TLS, or none."""
    seed = connection.get("nkeys_seed_str")
    context = connection.get("tls")
    if seed:
        return NatsNKey.from_seed(seed, ssl_context=context, use_ssl=context is not None)
    if context is not None:
        return NatsSecurity(ssl_context=context, use_ssl=True)
    return None


def _dead_letter_middleware(broker: NatsBroker) -> DeadLetterMiddleware:
    for middleware in broker.middlewares:
        if isinstance(middleware, DeadLetterMiddleware):
            return middleware
    raise ValueError("the broker has no DeadLetterMiddleware: build it with make_broker")


def _inbox_prefix(broker: NatsBroker) -> bytes:
    prefix = broker._connection_kwargs.get("inbox_prefix") or "_INBOX"
    text = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
    return f"{text}.".encode()


def durable_subscriber(
    broker: NatsBroker,
    subject: str,
    *,
    service: str,
    purpose: str,
    retry: RetryPolicy = RetryPolicy(),
    batch_size: int = 10,
) -> Callable[[F], F]:
    """Declare a durable pull consumer on the subject's stream, with retries and dead letters."""
    durable = f"{service}-{purpose}"
    if not durable or any(char in durable for char in ".*> \t\r\n/\\"):
        raise ValueError(f"invalid consumer name {durable!r}")
    stream = stream_for(subject)
    _dead_letter_middleware(broker).register(durable, retry)
    subscriber = broker.subscriber(
        subject,
        # Streams are provisioned by shared.streams, never by a service starting up.
        stream=JStream(name=stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size),
        # Pulled messages arrive on the connection's own inbox subjects (shared.natsauth).
        inbox_prefix=_inbox_prefix(broker),
        # The framework's policy: a handler that raises gets its message nacked, never
        # terminated (reject on error, the default) nor acked before it is handled (ack first).
        ack_policy=AckPolicy.NACK_ON_ERROR,
        config=ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=retry.ack_wait,
            # Above the retries: the middleware, not the server, decides when to give up.
            max_deliver=retry.max_deliver,
        ),
    )
    return cast("Callable[[F], F]", subscriber)
