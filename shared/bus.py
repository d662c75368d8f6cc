"""The message bus plumbing every service uses: the broker, durable subscribers, dead letters.

A failed JetStream message is redelivered with growing delays; when its retries are spent it
is copied to the DLQ stream, an alert event is published, and only then is it acked. Nothing
is dropped silently and nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, NoReturn, TypeVar, cast

from faststream import AckPolicy, Context
from faststream.exceptions import AckMessage, IgnoredException, NackMessage
from faststream.middlewares import BaseMiddleware
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.parser import JsParser
from faststream.nats.security import NatsNKey, NatsSecurity
from faststream.nats.subscriber.usecases.stream_pull_subscriber import BatchPullStreamSubscriber
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NotJSMessageError
from nats.js.errors import ServiceUnavailableError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import SkipValidation
from sqlalchemy import Engine
from sqlmodel import Session

from shared.clock import Clock, SystemClock
from shared.contracts.envelope import Event
from shared.db import unit_of_work
from shared.dbwait import DatabaseWait
from shared.inbox import claim
from shared.natsauth import connect_options
from shared.streams import PREFIX, stream_for

if TYPE_CHECKING:
    from faststream._internal.basic_types import AsyncFuncAny
    from faststream._internal.context.repository import ContextRepo
    from faststream.message import StreamMessage
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEAD_LETTER_MARGIN",
    "BatchHandler",
    "DeadLetterMiddleware",
    "RetryPolicy",
    "alert_subject",
    "batch_subscriber",
    "dead_letter_subject",
    "durable_subscriber",
    "event_handler",
    "make_broker",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
E = TypeVar("E", bound=Event)

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
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.broker = broker
        self.service = service
        self.default_retry = retry
        self.clock: Clock = clock or SystemClock()
        # The batch subscribers' per-message spans use the broker's tracer.
        self.tracer = trace.get_tracer("qorgau.bus", tracer_provider=tracer_provider)
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
        # FastStream's "Received"/"Processed" line per message cost a third of a hop's
        # processing time under load (bench/hop.py): they are debug detail, the spans and the
        # audit trail say what was handled; failures are still logged at error level.
        "log_level": logging.DEBUG,
    }
    if security is not None:
        options["security"] = security
    options.update(kwargs)
    broker = NatsBroker(servers, middlewares=middlewares, **options)
    # Added last, so it is the innermost: it sees the handler's own exception, and FastStream's
    # logging and the telemetry span see only NackMessage/AckMessage, not the exception text.
    broker.add_middleware(
        DeadLetterMiddleware(
            broker, service=service, retry=retry, clock=clock, tracer_provider=tracer_provider
        )
    )
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


def _durable_name(service: str, purpose: str) -> str:
    durable = f"{service}-{purpose}"
    if not durable or any(char in durable for char in ".*> \t\r\n/\\"):
        raise ValueError(f"invalid consumer name {durable!r}")
    return durable


def _consumer_config(durable: str, retry: RetryPolicy) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=retry.ack_wait,
        # Above the retries: the middleware, not the server, decides when to give up.
        max_deliver=retry.max_deliver,
    )


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
    durable = _durable_name(service, purpose)
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
        config=_consumer_config(durable, retry),
    )
    return cast("Callable[[F], F]", subscriber)


# --- consuming in batches -----------------------------------------------------------------

# How long one pull waits for a first message when the stream is idle. A fetch returns as soon
# as messages are there (a partial batch at once), so this costs no latency, only idle pulls.
_FETCH_WAIT = 5.0
# Pause after the connection failed under a fetch, so a closed connection is not spun on.
_FETCH_ERROR_PAUSE = 1.0

_TRACE_CONTEXT = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class BatchHandler(Generic[T]):
    """How a batch subscriber applies one message: decode it, name its inbox entry, change state."""

    # The consumer's inbox name (shared.inbox): the same one its per-message handler claims.
    # None: apply claims for itself (one message feeding several views, each with its entry).
    inbox: str | None
    # (subject, data) -> the item; None when the message asks nothing (no inbox row either).
    # Raising makes the message a failure: retried alone, then dead-lettered.
    decode: Callable[[str, bytes], T | None]
    # The item's event id, its key in the inbox.
    event_id: Callable[[T], str]
    # The change, on the batch's session; it must not commit (the batch commits once).
    apply: Callable[[Session, T], object]
    # The time an inbox entry records; None: the broker's clock (make_broker's clock=).
    now: Callable[[], datetime] | None = None
    # What the AsyncAPI document shows: one message's type, and the handler's name.
    payload: Any = Any
    name: str = "consume"


def event_handler(
    event_type: type[E],
    *,
    inbox: str,
    name: str,
    apply: Callable[[Session, E], object],
    now: Callable[[], datetime] | None = None,
    keep: Callable[[E], bool] = lambda _event: True,
) -> BatchHandler[E]:
    """Return the BatchHandler of one event contract: read from JSON, keyed by its event id."""

    def decode(_subject: str, data: bytes) -> E | None:
        event = event_type.model_validate_json(data)
        # An event the consumer does not keep is not claimed, as one by one.
        return event if keep(event) else None

    return BatchHandler(
        inbox=inbox,
        decode=decode,
        event_id=lambda event: str(event.event_id),
        apply=apply,
        now=now,
        payload=event_type,
        name=name,
    )


class _PromptBatchSubscriber(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber, handing over whatever one fetch returns at once."""

    __slots__ = ()

    # Batches handled at once (set by batch_subscriber): more than one overlaps a batch's
    # database round trips with the next one's, which pays on PostgreSQL, not on SQLite (one
    # writer at a time: concurrent batches only wait for each other).
    in_flight: int = 1

    async def _consume_pull(self) -> None:
        # FastStream's own loop keeps fetching until the batch is full or its timeout passes:
        # under light load every message would wait that long. nats-py's fetch returns what is
        # there at once (or the first message to arrive), so one fetch is one batch.
        assert self.subscription, "create_subscription first"
        slots = asyncio.Semaphore(self.in_flight)
        running: set[asyncio.Task[Any]] = set()

        def done(task: asyncio.Task[Any]) -> None:
            running.discard(task)
            slots.release()

        try:
            while self.running:
                await slots.acquire()
                try:
                    messages = await self.subscription.fetch(
                        batch=self.pull_sub.batch_size, timeout=self.pull_sub.timeout
                    )
                except TimeoutError:  # nats-py's own TimeoutError derives from it
                    slots.release()
                    continue
                except (ConnectionClosedError, ServiceUnavailableError) as error:
                    # Fetched-but-unhandled messages come back after ack_wait.
                    slots.release()
                    logger.warning("batch fetch failed: %s", type(error).__name__)
                    await asyncio.sleep(_FETCH_ERROR_PAUSE)
                    continue
                except BaseException:
                    slots.release()
                    raise
                if not (messages and self.running):
                    slots.release()
                    continue
                task = asyncio.create_task(self.consume(messages))
                running.add(task)
                task.add_done_callback(done)
        finally:
            for task in list(running):
                task.cancel()


class _LazySpan:
    """A message's process span, started only when needed: a message the consumer keeps, or one
    that fails. Most of what some consumers read is not theirs (the family centre keeps a few of
    routing's 50 events a report); a span each was a third of their time."""

    __slots__ = ("_span", "_start")

    def __init__(self, start: Callable[[], trace.Span]) -> None:
        self._start = start
        self._span: trace.Span | None = None

    def get(self) -> trace.Span:
        """Return the span, started now if it was not yet."""
        if self._span is None:
            self._span = self._start()
        return self._span

    def end(self) -> None:
        """End the span if it was started."""
        if self._span is not None:
            self._span.end()


class _BatchRunner:
    """One batch consumer's work: one transaction per batch, each message alone on failure."""

    def __init__(
        self,
        *,
        subject: str,
        durable: str,
        engine: Engine | Callable[[], Engine],
        handle: BatchHandler[Any],
        dead_letters: DeadLetterMiddleware,
        on_commit: Callable[[], None],
    ) -> None:
        self.subject = subject
        self.durable = durable
        self._engine = engine
        self.handle = handle
        self.dead_letters = dead_letters
        self.on_commit = on_commit
        self.parser = JsParser(pattern=subject)

    @property
    def engine(self) -> Engine:
        return self._engine if isinstance(self._engine, Engine) else self._engine()

    @property
    def policy(self) -> RetryPolicy:
        return self.dead_letters.policy_for(self.durable)

    async def run(self, raws: Sequence[Msg]) -> None:
        """Apply a fetched batch: all in one transaction, else each message alone."""
        batch_span = trace.get_current_span()
        spans = [_LazySpan(functools.partial(self._span, raw, batch_span)) for raw in raws]
        keeping = asyncio.create_task(self._keep_alive(raws))
        try:
            # A redelivered message failed before (or its ack was lost): alone, it cannot fail
            # a batch again and again while its retries run.
            fresh = [i for i, raw in enumerate(raws) if _deliveries(raw) <= 1]
            alone = [i for i in range(len(raws)) if i not in set(fresh)]
            if len(fresh) > 1:
                batch = [raws[i] for i in fresh]
                if await self._batch(batch, [spans[i] for i in fresh]):
                    await asyncio.gather(*(self._ack(raw) for raw in batch))
                else:
                    alone = sorted(alone + fresh)
            else:
                alone = sorted(alone + fresh)
            for i in alone:
                await self._one(raws[i], spans[i])
        finally:
            keeping.cancel()
            for span in spans:
                span.end()
            self.on_commit()

    async def _keep_alive(self, raws: Sequence[Msg]) -> None:
        # A long batch (a slow disk, its messages handled one by one) must not outlast the
        # ack wait: the server would hand its messages to another instance meanwhile.
        while True:
            await asyncio.sleep(self.policy.ack_wait / 3)
            await self._in_progress([raw for raw in raws if not raw.is_acked])

    def _span(self, raw: Msg, batch_span: trace.Span) -> trace.Span:
        # Each message's span continues its producer's trace, as the per-message consumer's
        # process span does, and links to the batch's span. Ids and codes only.
        parent = _TRACE_CONTEXT.extract(raw.headers or {})
        links = [trace.Link(batch_span.get_span_context())]
        span = self.dead_letters.tracer.start_span(
            f"{raw.subject} process",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links if batch_span.get_span_context().is_valid else None,
            attributes={
                "messaging.system": "nats",
                "messaging.operation": "process",
                "messaging.destination.name": raw.subject,
                "messaging.consumer.group.name": self.durable,
            },
        )
        return span

    def _apply(self, raws: Sequence[Msg], spans: Sequence[_LazySpan]) -> None:
        """Claim and apply every message in one transaction, and commit it (a thread)."""
        handle = self.handle
        now = handle.now or self.dead_letters.clock.now
        with unit_of_work(self.engine) as session:
            for raw, span in zip(raws, spans, strict=True):
                item = handle.decode(raw.subject, raw.data)
                if item is None:
                    # Passed over (not the consumer's): no span, nothing to trace.
                    continue
                token = otel_context.attach(trace.set_span_in_context(span.get()))
                try:
                    if handle.inbox is None or claim(
                        session, consumer=handle.inbox, event_id=handle.event_id(item), now=now()
                    ):
                        handle.apply(session, item)
                finally:
                    otel_context.detach(token)
            session.commit()

    async def _batch(self, raws: Sequence[Msg], spans: Sequence[_LazySpan]) -> bool:
        """Commit the batch in one transaction; False when it failed, not for its database."""
        waiting = DatabaseWait()
        while True:
            try:
                await asyncio.to_thread(self._apply, raws, spans)
                return True
            except Exception as error:
                pause = waiting.pause(error, limit=self.policy.outage_wait)
                if pause is None:
                    logger.info(
                        "batch failed, handling its %d messages one by one: consumer=%s error=%s",
                        len(raws),
                        self.durable,
                        type(error).__name__,
                    )
                    return False
                await self._in_progress(raws)
                await asyncio.sleep(pause)

    async def _one(self, raw: Msg, span: _LazySpan) -> None:
        """Handle one message in its own transaction, as a per-message consumer does."""
        waiting = DatabaseWait()
        while True:
            try:
                await asyncio.to_thread(self._apply, [raw], [span])
            except Exception as error:
                pause = waiting.pause(error, limit=self.policy.outage_wait)
                if pause is None:
                    await self._fail(raw, span, error)
                    return
                await self._in_progress([raw])
                await asyncio.sleep(pause)
            else:
                await self._ack(raw)
                return

    async def _fail(self, raw: Msg, span: _LazySpan, error: Exception) -> None:
        message = cast("NatsMessage", await self.parser.parse_message(raw))
        with trace.use_span(span.get(), end_on_exit=False):
            try:
                await self.dead_letters.handle_failure(message, raw, error)
            except (NackMessage, AckMessage):
                pass  # settled: nacked with its delay, or dead-lettered and acked

    async def _ack(self, raw: Msg) -> None:
        try:
            await raw.ack()
        except Exception as error:
            # Committed: a redelivery finds its inbox entry and does nothing.
            logger.warning(
                "ack after commit failed: consumer=%s error=%s", self.durable, type(error).__name__
            )

    @staticmethod
    async def _in_progress(raws: Sequence[Msg]) -> None:
        # Waiting for the database: tell the server the messages are still being handled.
        for raw in raws:
            with contextlib.suppress(Exception):
                await raw.in_progress()


def _deliveries(raw: Msg) -> int:
    try:
        return int(raw.metadata.num_delivered)
    except NotJSMessageError:
        return 1


def batch_subscriber(
    broker: NatsBroker,
    subject: str,
    *,
    service: str,
    purpose: str,
    engine: Engine | Callable[[], Engine],
    handle: BatchHandler[Any],
    retry: RetryPolicy = RetryPolicy(),
    batch_size: int = 100,
    on_commit: Callable[[], None] = lambda: None,
    in_flight: int = 1,
) -> None:
    """Declare a durable pull consumer that applies up to batch_size messages per transaction.

    The consumer is declared as durable_subscriber declares it (same name, same configuration),
    so a consumer moved to batches keeps its position. Each message is claimed in the inbox and
    applied on the batch's session; the batch commits once, then each message is acked. When the
    batch fails it is rolled back and each message is handled alone: the good ones commit, a bad
    one is retried with the usual delays and dead-lettered. on_commit runs once per batch.
    engine may be a function returning it, read at each batch: a subscribers module is also
    registered without a database, to list its consumers (qorgau.cli). in_flight batches are
    handled at once (in stream order only with one).
    """
    if batch_size < 1 or in_flight < 1:
        raise ValueError("batch_size and in_flight must be at least 1")
    durable = _durable_name(service, purpose)
    stream = stream_for(subject)
    dead_letters = _dead_letter_middleware(broker)
    dead_letters.register(durable, retry)
    runner = _BatchRunner(
        subject=subject,
        durable=durable,
        engine=engine,
        handle=handle,
        dead_letters=dead_letters,
        on_commit=on_commit,
    )
    subscriber = broker.subscriber(
        subject,
        stream=JStream(name=stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, batch=True, timeout=_FETCH_WAIT),
        inbox_prefix=_inbox_prefix(broker),
        # The runner settles every message itself: acks after the commit, naks with delays.
        ack_policy=AckPolicy.MANUAL,
        config=_consumer_config(durable, retry),
        # The runner decodes each message itself; FastStream's JSON decoding is not needed.
        decoder=_raw_bodies,
    )
    if type(subscriber) is not BatchPullStreamSubscriber:
        raise TypeError(f"unexpected batch subscriber {type(subscriber).__name__}")
    subscriber.__class__ = _PromptBatchSubscriber
    cast("_PromptBatchSubscriber", subscriber).in_flight = in_flight

    async def consume(bodies: Any, message: Annotated[Any, Context("message")]) -> None:
        await runner.run(list(message.raw_message))

    # The document names each message's type and the handler, as for a per-message consumer;
    # the runner, not FastStream, validates each message, so that a bad one fails alone.
    skip: Any = SkipValidation
    consume.__annotations__["bodies"] = skip[handle.payload]
    consume.__name__ = consume.__qualname__ = handle.name
    subscriber(consume)


async def _raw_bodies(message: Any) -> Any:
    return message.body
