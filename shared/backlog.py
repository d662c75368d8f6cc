"""Backlogs: what a service's consumers and outbox still have to do, and when intake sheds load.

A service's backlog is read, never computed on a request: `BacklogMonitor` asks JetStream for
the info of its consumers (num_pending: stored, not yet delivered; num_ack_pending: delivered,
not yet acked) and counts its outbox's unsent rows, once a second in the background. `/health`
answers from the last reading.

Intake also watches the consumers on a report's path (`REPORT_PATH`): routing's consumers of
intake's report events and deadlines' consumer of routing's obligations, the path from
`POST /v1/reports` to the case's R1 obligations scheduled. `LoadShedder` adds their backlog to
intake's own outbox and, past a bound, intake answers a new report `503` with `Retry-After`
instead of accepting work the platform cannot route in time (docs/reliability.md, "Load
shedding"). It never refuses because the backlog cannot be read: with NATS away, intake keeps
taking reports into its outbox, as it always has.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from nats.js.errors import NotFoundError
from sqlmodel import col, select

from shared.clock import Clock
from shared.db import unit_of_work
from shared.natsauth import Consumer
from shared.outbox import OutboxRow

if TYPE_CHECKING:
    from nats.aio.client import Client
    from sqlalchemy import Engine

__all__ = [
    "MESSAGES_PER_REPORT",
    "POLL_INTERVAL",
    "REPORT_PATH",
    "WATCHES",
    "BacklogMonitor",
    "Consumer",
    "ConsumerReading",
    "LoadShedder",
    "Reading",
    "outbox_state",
]

log = logging.getLogger(__name__)

# How often the monitor reads: often enough that intake reacts within a second or two to a
# growing backlog, rarely enough that the consumer info requests cost the server nothing.
POLL_INTERVAL = 1.0
# A service's own consumers, for /health only, are read less often: a service has up to twenty,
# and every instance of every service reads them.
OWN_INTERVAL = 5.0
# A reading older than this many intervals is no longer believed (the monitor is stuck, or
# NATS has been unreachable that long): the backlog is unknown.
STALE_AFTER_INTERVALS = 3
# Over how long the drain rate is measured: long enough to smooth one slow batch, short enough
# to follow a service that has just slowed down or recovered.
DRAIN_WINDOW = 10.0
# Bounds of Retry-After (seconds): a client is never asked to wait longer than a minute; one
# that comes back sooner than a second would only find the same backlog.
RETRY_AFTER_MIN = 1
RETRY_AFTER_MAX = 60


# The consumers a report's work passes through until its R1 obligations are scheduled (the
# end-to-end measure of issue 15): routing's consumers of intake's report events, and
# deadlines' consumer of everything routing publishes (the obligations it opens among them).
# Their names are `<service>-<purpose>` (shared.bus.durable_subscriber);
# tests/unit/test_backlog.py checks the services declare them.
REPORT_PATH: tuple[Consumer, ...] = (
    Consumer("INTAKE", "routing-report-received"),
    Consumer("INTAKE", "routing-report-joined"),
    Consumer("ROUTING", "deadlines-routing-events"),
)

# What a report weighs on the path, counted in messages of the path's last consumer: a school's
# violence report puts 51 events on ROUTING for deadlines-routing-events. Until routing has
# handled it, it is one message (intake's outbox row, routing's consumer of report events) that
# will become those 51; counted as one, a burst of reports in routing's queue would look empty
# and intake would let in far more than the bound.
MESSAGES_PER_REPORT = 51
# The consumers whose every message is one report (weighed as MESSAGES_PER_REPORT).
REPORT_EVENTS: frozenset[Consumer] = frozenset(REPORT_PATH[:2])

# Who reads the info of which other services' consumers: shared.natsauth lets each of these
# users request exactly that (`$JS.API.CONSUMER.INFO.<stream>.<durable>`) and nothing more.
WATCHES: dict[str, tuple[Consumer, ...]] = {"intake": REPORT_PATH}


@dataclass(frozen=True)
class ConsumerReading:
    """One consumer's backlog as JetStream reported it, or why it could not be read."""

    stream: str
    durable: str
    # ok: read; missing: the consumer does not exist (its service has not started yet);
    # unknown: NATS did not answer (disconnected, timed out, not permitted).
    state: Literal["ok", "missing", "unknown"]
    num_pending: int | None = None
    num_ack_pending: int | None = None
    # The ack floor's consumer sequence: how many deliveries the consumer has finished, the
    # counter its drain rate is measured on.
    acked: int | None = None

    @property
    def backlog(self) -> int | None:
        """Return the messages not yet handled (stored or in hand), 0 when missing, or None."""
        if self.state == "missing":
            return 0
        if self.num_pending is None or self.num_ack_pending is None:
            return None
        return self.num_pending + self.num_ack_pending

    def health(self) -> dict[str, Any]:
        """Return the reading as /health shows it."""
        return {
            "stream": self.stream,
            "durable": self.durable,
            "state": self.state,
            "num_pending": self.num_pending,
            "num_ack_pending": self.num_ack_pending,
        }


@dataclass(frozen=True)
class Reading:
    """One round of the monitor: every consumer it reads, and the outbox."""

    # time.monotonic() of the round, for ages and rates; read_at is the clock's, for people.
    at: float
    read_at: str
    consumers: tuple[ConsumerReading, ...]
    outbox_pending: int | None
    # The highest outbox row id: how many rows were ever written, to tell arrivals from drain.
    outbox_head: int | None

    def consumer(self, stream: str, durable: str) -> ConsumerReading | None:
        """Return the reading of one consumer, if it was read in this round."""
        for found in self.consumers:
            if found.stream == stream and found.durable == durable:
                return found
        return None


def outbox_state(engine: Engine) -> tuple[int, int]:
    """Return the outbox's unsent row count and its highest row id (0 when empty)."""
    with unit_of_work(engine) as session:
        pending = session.exec(
            select(sa.func.count()).select_from(OutboxRow).where(col(OutboxRow.sent_at).is_(None))
        ).one()
        head = session.exec(select(sa.func.max(OutboxRow.id))).one()
        return int(pending), int(head or 0)


async def read_consumer(client: Client | None, stream: str, durable: str) -> ConsumerReading:
    """Read one consumer's info from JetStream; unknown rather than raising when it cannot."""
    if client is None or not client.is_connected:
        return ConsumerReading(stream, durable, "unknown")
    try:
        info = await client.jetstream().consumer_info(stream, durable, timeout=POLL_INTERVAL)
    except NotFoundError:
        return ConsumerReading(stream, durable, "missing")
    except Exception as error:
        # Timed out, disconnected meanwhile, or refused by the server's permissions.
        log.debug("consumer info %s/%s unread: %s", stream, durable, type(error).__name__)
        return ConsumerReading(stream, durable, "unknown")
    return ConsumerReading(
        stream,
        durable,
        "ok",
        num_pending=int(info.num_pending or 0),
        num_ack_pending=int(info.num_ack_pending or 0),
        acked=int(info.ack_floor.consumer_seq or 0) if info.ack_floor else 0,
    )


class BacklogMonitor:
    """Reads a service's consumers (its own and those it watches) and outbox in the background."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        client: Callable[[], Client | None],
        own: Callable[[], Iterable[Consumer]],
        interval: float = POLL_INTERVAL,
        own_interval: float = OWN_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._client = client
        self._own = own
        self.interval = interval
        self.own_interval = max(own_interval, interval)
        self._monotonic = monotonic
        self._watched: list[Consumer] = []
        self._listeners: list[Callable[[Reading], None]] = []
        self.latest: Reading | None = None
        # The own consumers' last reading and when it was taken (they are read less often).
        self._own_readings: tuple[ConsumerReading, ...] = ()
        self._own_at: float | None = None

    def watch(self, consumers: Iterable[Consumer]) -> None:
        """Also read these consumers (another service's) every round."""
        for consumer in consumers:
            if consumer not in self._watched:
                self._watched.append(consumer)

    def on_reading(self, listener: Callable[[Reading], None]) -> None:
        """Call listener with every new reading (in the event loop; it must not block)."""
        self._listeners.append(listener)

    def own_consumers(self) -> list[Consumer]:
        """Return the service's own durable consumers, in a stable order."""
        return sorted(set(self._own()), key=lambda each: (each.stream, each.durable))

    async def read_once(self) -> Reading:
        """Read every consumer and the outbox once; record and announce the reading."""
        client = self._client()
        own = self.own_consumers()
        watched = [each for each in self._watched if each not in own]
        started = self._monotonic()
        refresh = self._own_at is None or started - self._own_at >= self.own_interval
        targets = [*own, *watched] if refresh else watched
        found = await asyncio.gather(
            *(read_consumer(client, each.stream, each.durable) for each in targets)
        )
        if refresh:
            self._own_readings, self._own_at = tuple(found[: len(own)]), started
            found = found[len(own) :]
        readings = [*self._own_readings, *found]
        try:
            pending, head = await asyncio.to_thread(outbox_state, self._engine)
        except Exception as error:
            # The database is away: /health says so on its own; the outbox is unknown meanwhile.
            log.debug("outbox unread: %s", type(error).__name__)
            outbox: tuple[int | None, int | None] = (None, None)
        else:
            outbox = (pending, head)
        reading = Reading(
            at=self._monotonic(),
            read_at=self._clock.now().isoformat(),
            consumers=tuple(readings),
            outbox_pending=outbox[0],
            outbox_head=outbox[1],
        )
        self.latest = reading
        for listener in self._listeners:
            listener(reading)
        return reading

    async def run(self) -> None:
        """Read every interval until cancelled; a failed round is logged and tried again."""
        while True:
            try:
                await self.read_once()
            except Exception as error:
                log.warning("backlog reading failed: %s", type(error).__name__)
            await asyncio.sleep(self.interval)

    def fresh(self, reading: Reading | None) -> bool:
        """Tell whether a reading is recent enough to be believed."""
        if reading is None:
            return False
        return self._monotonic() - reading.at <= STALE_AFTER_INTERVALS * self.interval

    def health(self) -> dict[str, Any]:
        """Return the service's own backlog as /health shows it, from the last reading."""
        reading = self.latest
        own = self.own_consumers()
        found = [reading.consumer(each.stream, each.durable) if reading else None for each in own]
        consumers = [
            (seen or ConsumerReading(each.stream, each.durable, "unknown")).health()
            for each, seen in zip(own, found, strict=True)
        ]
        own_fresh = (
            self._own_at is not None
            and self._monotonic() - self._own_at <= STALE_AFTER_INTERVALS * self.own_interval
        )
        known = own_fresh and all(seen is not None and seen.state != "unknown" for seen in found)
        return {
            "status": "known" if known else "unknown",
            "read_at": reading.read_at if reading else None,
            "consumers": consumers,
        }


class LoadShedder:
    """Decides from the monitor's readings whether intake refuses new reports, and for how long.

    The backlog is the watched consumers' num_pending + num_ack_pending plus intake's unsent
    outbox rows, each report (an outbox row, a report event) weighed as the `per_report`
    messages it becomes, plus the reports admitted since the last reading. Past `bound` intake
    refuses; it accepts again only once the backlog is down to `resume_below` (hysteresis: a
    backlog hovering at the bound does not flap between the two).
    """

    def __init__(
        self,
        monitor: BacklogMonitor,
        *,
        watched: Sequence[Consumer] = REPORT_PATH,
        bound: int,
        resume_below: int,
        window: float = DRAIN_WINDOW,
        per_report: int = MESSAGES_PER_REPORT,
        report_events: frozenset[Consumer] = REPORT_EVENTS,
    ) -> None:
        if not 0 <= resume_below < bound:
            raise ValueError("resume_below must be at least 0 and below the bound")
        if per_report < 1:
            raise ValueError("per_report must be at least 1")
        self._monitor = monitor
        self.watched = tuple(watched)
        self.per_report = per_report
        self._report_events = report_events
        # Reports let in since the last reading: not in it yet, each as heavy as per_report.
        # Without them, the retries that wait out a Retry-After all pass in the second before
        # the next reading (hundreds of reports over the bound, seen in `make chaos`).
        self.admitted = 0
        self.bound = bound
        self.resume_below = resume_below
        self._window = window
        self.shedding = False
        self.backlog: int | None = None
        self._known: Reading | None = None
        # (monotonic time, everything drained so far): the drain rate is measured over these.
        self._drained: deque[tuple[float, int]] = deque()
        self._total_drained = 0
        self._previous: Reading | None = None
        # Messages drained per second over the window; None before two readings.
        self.drain_rate: float | None = None
        monitor.watch(self.watched)
        monitor.on_reading(self.observe)

    def observe(self, reading: Reading) -> None:
        """Take a new reading: update the backlog, the drain rate and the shedding state."""
        watched = [reading.consumer(each.stream, each.durable) for each in self.watched]
        parts = [seen.backlog if seen else None for seen in watched]
        if any(part is None for part in parts) or reading.outbox_pending is None:
            # Unknown (NATS or the database away): the last known state holds while it is
            # fresh, then refuse() stops refusing.
            return
        self._count_drained(reading)
        weights = [self._weight(each) for each in self.watched]
        self.backlog = (
            sum((part or 0) * weight for part, weight in zip(parts, weights, strict=True))
            + reading.outbox_pending * self.per_report
        )
        self._known = reading
        self.admitted = 0
        was = self.shedding
        if was:
            self.shedding = self.backlog >= self.resume_below
        else:
            self.shedding = self.backlog > self.bound
        if self.shedding != was:
            log.warning(
                "%s: backlog=%d bound=%d resume_below=%d drain=%.1f/s",
                "shedding load" if self.shedding else "accepting again",
                self.backlog,
                self.bound,
                self.resume_below,
                self.drain_rate or 0.0,
            )

    def _count_drained(self, reading: Reading) -> None:
        previous = self._previous
        self._previous = reading
        if previous is not None:
            done = 0
            for each in self.watched:
                now, then = (
                    reading.consumer(each.stream, each.durable),
                    previous.consumer(each.stream, each.durable),
                )
                if now and then and now.acked is not None and then.acked is not None:
                    # A consumer deleted and created again starts counting from zero.
                    done += max(0, now.acked - then.acked) * self._weight(each)
            if (
                reading.outbox_head is not None
                and previous.outbox_head is not None
                and reading.outbox_pending is not None
                and previous.outbox_pending is not None
            ):
                # Rows sent = rows written - growth of the unsent ones.
                written = reading.outbox_head - previous.outbox_head
                sent = max(0, written - (reading.outbox_pending - previous.outbox_pending))
                done += sent * self.per_report
            self._total_drained += done
        self._drained.append((reading.at, self._total_drained))
        while len(self._drained) > 2 and reading.at - self._drained[1][0] >= self._window:
            self._drained.popleft()
        # Kept as a number: /health reads it from another thread, never the samples.
        self.drain_rate = self._measure_rate()

    def _measure_rate(self) -> float | None:
        if len(self._drained) < 2:
            return None
        (start, first), (end, last) = self._drained[0], self._drained[-1]
        if end <= start:
            return None
        return (last - first) / (end - start)

    def _weight(self, consumer: Consumer) -> int:
        return self.per_report if consumer in self._report_events else 1

    def estimate(self) -> int:
        """Return the last reading's backlog plus the reports admitted since, in messages."""
        return (self.backlog or 0) + self.admitted * self.per_report

    def retry_after(self) -> int:
        """Return the seconds until the backlog should be back under resume_below (1 to 60)."""
        rate = self.drain_rate
        excess = self.estimate() - self.resume_below
        if not rate or rate <= 0:
            # Nothing drains (a consumer's service is down) or no rate yet: the longest wait.
            return RETRY_AFTER_MAX
        return max(RETRY_AFTER_MIN, min(RETRY_AFTER_MAX, math.ceil(excess / rate)))

    def refuse(self) -> int | None:
        """Return Retry-After seconds when a new report must be refused now, else None (and
        count the report as admitted until the next reading shows it)."""
        if not self._monitor.fresh(self._known):
            # Never refused on an old or unknown backlog: NATS away is not a reason by itself.
            return None
        if not self.shedding and self.estimate() > self.bound:
            # The reports let in since the reading fill what the bound leaves.
            self.shedding = True
            log.warning(
                "shedding load: backlog=%d admitted since reading=%d bound=%d",
                self.backlog or 0,
                self.admitted,
                self.bound,
            )
        if self.shedding:
            return self.retry_after()
        self.admitted += 1
        return None

    def health(self) -> dict[str, Any]:
        """Return the shedding state as intake's /health shows it."""
        reading = self._monitor.latest
        known = self._monitor.fresh(self._known)
        if not known:
            status = "unknown"
        else:
            status = "shedding" if self.shedding else "accepting"
        rate = self.drain_rate
        watched = [
            (
                (reading.consumer(each.stream, each.durable) if reading else None)
                or ConsumerReading(each.stream, each.durable, "unknown")
            ).health()
            for each in self.watched
        ]
        return {
            "status": status,
            "backlog": self.backlog if known else None,
            "bound": self.bound,
            "resume_below": self.resume_below,
            "per_report": self.per_report,
            "drain_per_second": round(rate, 1) if rate is not None and known else None,
            "retry_after": self.retry_after() if known and self.shedding else None,
            "outbox_pending": self._known.outbox_pending if known and self._known else None,
            "watched": watched,
        }
