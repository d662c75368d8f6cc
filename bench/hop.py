"""Per hop: one service hop built from the project's parts beside a bare nats-py one.

`python -m bench.hop --messages 2000` (or `make bench-e2e`, which runs it after the end-to-end
table) starts a nats-server of its own (`sync_interval: always`, shared.natsserver), with the
platform's streams, and for each variant pre-loads N messages on a subject of its own, then
times how long the variant takes to carry all of them one hop further:

- **bare**: nats-py alone. A pull consumer; for each message one SQLite transaction (WAL,
  synchronous=FULL) writing an inbox row and a state row, commit, publish the next event with
  `Nats-Msg-Id` and wait for its PubAck, then ack the message.
- **project**: the same hop as a service builds it: `shared.bus.make_broker`,
  `shared.bus.durable_subscriber`, `shared.db.unit_of_work` (SQLite from `shared.db.make_engine`),
  `shared.inbox.claim`, `shared.outbox.stage` and `shared.outbox.OutboxRelay` (publishes after
  commit, marks the row sent after the PubAck). Only the public functions are used, so a change
  to them (a batch subscriber, a pipelined relay) is measured here without editing this file.

Both run in the same process against the same server, one after the other, alternating for
`--rounds` rounds. A variant is done when every one of its N outputs is in the stream and its
consumer has nothing pending and nothing awaiting an ack; messages/s is N over that time, from
connecting to done. The target (issue 15): the project's hop at least 50% of the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlmodel import Session, SQLModel, col, func, select

from shared.bus import BatchHandler, RetryPolicy, batch_subscriber, durable_subscriber, make_broker
from shared.clock import SystemClock
from shared.contracts.envelope import Event
from shared.db import make_engine, unit_of_work
from shared.inbox import InboxEntry, claim
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, OutboxRow, stage
from shared.settings import ServiceSettings
from shared.streams import provision, stream_for

# The hop stands for one of routing's: its dead letters and alerts go where routing's go.
SERVICE = "routing"
# bare: nats-py alone; project: durable_subscriber, a transaction per message; batch: the
# project's batch_subscriber, a transaction per fetched batch.
VARIANTS = ("bare", "project", "batch")

# Where a variant's messages come from and go to: streams the platform provisions anyway.
IN_PREFIX = "qorgau.intake.hopbench"
OUT_PREFIX = "qorgau.routing.hopbench"
# The output's id follows from the input's: a redelivered input is published again with the
# same Nats-Msg-Id, and JetStream drops the repeat.
_OUT_NAMESPACE = uuid.UUID("0b9f3c52-64a1-4a43-9a55-7c1d5fb2e8d0")
# Longest a variant may take before the run gives up on it (a loaded machine is slow, not stuck).
VARIANT_BUDGET = 600.0
FETCH_BATCH = 10


class HopIn(Event):
    """The message a hop consumes."""

    SERVICE: ClassVar[str] = "intake"
    NAME: ClassVar[str] = "hopbench_in"

    seq: int


class HopOut(Event):
    """The event a hop publishes for each message it consumed."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "hopbench_out"

    seq: int


@dataclass
class HopRun:
    """One variant's run: how many messages, how long, and what came out."""

    variant: str
    round: int
    messages: int
    seconds: float = 0.0
    outputs: int = 0
    stored: int = 0

    @property
    def rate(self) -> float:
        """Return messages per second."""
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def complete(self) -> bool:
        """Tell whether every message came out once and is recorded once."""
        return self.outputs == self.messages and self.stored == self.messages


@dataclass
class HopResult:
    """Every run of both variants, and the comparison."""

    messages: int
    runs: list[HopRun] = field(default_factory=list)

    def best(self, variant: str) -> float:
        """Return the best messages/s of a variant (the machine is shared: noise only slows)."""
        rates = [run.rate for run in self.runs if run.variant == variant]
        return max(rates) if rates else 0.0

    def median(self, variant: str) -> float:
        """Return the median messages/s of a variant."""
        rates = [run.rate for run in self.runs if run.variant == variant]
        return statistics.median(rates) if rates else 0.0

    @property
    def ratio(self) -> float:
        """Return the project's per-message hop over the bare one's: the like-for-like target."""
        bare = self.best("bare")
        return self.best("project") / bare if bare else 0.0

    @property
    def batch_ratio(self) -> float:
        """Return the project's batch hop over the bare per-message one's (not like for like)."""
        bare = self.best("bare")
        return self.best("batch") / bare if bare else 0.0

    def table(self) -> str:
        """Return the comparison as a printable table."""
        lines = [
            f"Per hop, {self.messages} messages, SQLite synchronous=FULL, nats sync_interval "
            "always",
            f"  {'variant':<8} {'round':>5} {'seconds':>8} {'msg/s':>8} {'outputs':>8} "
            f"{'stored':>7}",
        ]
        for run in self.runs:
            lines.append(
                f"  {run.variant:<8} {run.round:>5} {run.seconds:>8.2f} {run.rate:>8.1f} "
                f"{run.outputs:>8} {run.stored:>7}"
            )
        bare, project, batch = self.best("bare"), self.best("project"), self.best("batch")
        verdict = "met" if self.ratio >= 0.5 else "not met"
        lines.append(
            f"  best: bare {bare:.1f} msg/s, project {project:.1f} msg/s, batch {batch:.1f} "
            f"msg/s; like for like, project/bare {self.ratio:.0%} (target >= 50%: {verdict}); "
            f"batch/bare {self.batch_ratio:.0%} (bare handles one message per transaction)"
        )
        return "\n".join(lines)


def _subjects(variant: str, number: int) -> tuple[str, str, str]:
    """Return a run's input subject, output subject and consumer purpose."""
    purpose = f"hopbench-{variant}{number}"
    return f"{IN_PREFIX}.{purpose}.v1", f"{OUT_PREFIX}.{purpose}.v1", purpose


async def preload(url: str, subject: str, count: int) -> None:
    """Publish count HopIn messages on subject, each with its event id as Nats-Msg-Id."""
    client = await nats.connect(url)
    try:
        js = client.jetstream(timeout=30)
        stream = stream_for(subject)
        correlation = uuid.uuid4()
        now = SystemClock().now()
        window = 256
        for start in range(0, count, window):
            acks = []
            for seq in range(start, min(count, start + window)):
                event = HopIn(occurred_at=now, correlation_id=correlation, seq=seq)
                acks.append(
                    await js.publish_async(
                        subject,
                        event.model_dump_json().encode(),
                        stream=stream,
                        headers={"Nats-Msg-Id": str(event.event_id)},
                    )
                )
            await asyncio.gather(*acks)
    finally:
        await client.close()


async def _wait_done(url: str, in_subject: str, out_subject: str, durable: str, count: int) -> int:
    """Wait until count distinct outputs are in the stream and the consumer has nothing left."""
    client = await nats.connect(url)
    seen: set[str] = set()

    async def counted(message: Any) -> None:
        seen.add((message.headers or {}).get("Nats-Msg-Id", ""))

    try:
        # Core NATS sees every message JetStream stores on the subject as it is stored.
        await client.subscribe(out_subject, cb=counted, pending_msgs_limit=1_000_000)
        js = client.jetstream(timeout=10)
        deadline = time.monotonic() + VARIANT_BUDGET
        while time.monotonic() < deadline:
            if len(seen) >= count:
                try:
                    info = await js.consumer_info(stream_for(in_subject), durable)
                except Exception:
                    info = None
                if info is not None and not info.num_pending and not info.num_ack_pending:
                    return len(seen)
            await asyncio.sleep(0.01)
        return len(seen)
    finally:
        await client.close()


async def bare_hop(
    url: str, db_path: Path, in_subject: str, out_subject: str, durable: str, stop: asyncio.Event
) -> None:
    """Consume, one SQLite transaction per message, publish after PubAck, ack: nats-py alone."""
    client = await nats.connect(url)
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (consumer TEXT, event_id TEXT, handled_at TEXT, "
            "PRIMARY KEY (consumer, event_id))"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS state (event_id TEXT PRIMARY KEY, seq INTEGER, "
            "out_id TEXT, payload TEXT, created_at TEXT)"
        )
        js = client.jetstream(timeout=10)
        out_stream = stream_for(out_subject)
        retry = RetryPolicy()
        subscription = await js.pull_subscribe(
            in_subject,
            durable=durable,
            stream=stream_for(in_subject),
            config=ConsumerConfig(
                durable_name=durable,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=retry.ack_wait,
                max_deliver=retry.max_deliver,
            ),
        )
        clock = SystemClock()
        while not stop.is_set():
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                event_id = (message.headers or {})["Nats-Msg-Id"]
                payload = json.loads(message.data)
                out_id = str(uuid.uuid5(_OUT_NAMESPACE, event_id))
                now = clock.now()
                out = HopOut(
                    event_id=uuid.UUID(out_id),
                    occurred_at=now,
                    correlation_id=payload["correlation_id"],
                    causation_id=payload["event_id"],
                    seq=payload["seq"],
                ).model_dump_json()
                db.execute("BEGIN IMMEDIATE")
                try:
                    new = db.execute(
                        "INSERT OR IGNORE INTO inbox VALUES (?, ?, ?)",
                        (durable, event_id, now.isoformat()),
                    ).rowcount
                    if new:
                        db.execute(
                            "INSERT INTO state VALUES (?, ?, ?, ?, ?)",
                            (event_id, payload["seq"], out_id, out, now.isoformat()),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                # Published again on a redelivery (the commit may be all that happened): the
                # output's Nats-Msg-Id makes JetStream drop the repeat.
                await js.publish(
                    out_subject, out.encode(), stream=out_stream, headers={"Nats-Msg-Id": out_id}
                )
                await message.ack()
    finally:
        db.close()
        await client.close()


def bare_stored(db_path: Path) -> int:
    """Count the messages the bare hop recorded."""
    with sqlite3.connect(db_path) as db:
        return int(db.execute("SELECT count(*) FROM state").fetchone()[0])


async def project_hop(
    url: str,
    db_path: Path,
    in_subject: str,
    out_subject: str,
    purpose: str,
    stop: asyncio.Event,
    *,
    batched: bool = False,
) -> None:
    """The same hop from the project's parts: broker, durable subscriber, inbox, outbox, relay."""
    engine = make_engine(f"sqlite:///{db_path}")
    SQLModel.metadata.create_all(
        engine,
        tables=[InboxEntry.__table__, OutboxRow.__table__],  # type: ignore[attr-defined]
    )
    clock = SystemClock()
    broker = make_broker(url, service=SERVICE)
    relay = OutboxRelay(
        engine=engine,
        publisher=broker,
        clock=clock,
        # As a service runs it (ServiceSettings.relay_interval).
        interval=ServiceSettings.model_fields["relay_interval"].default,
    )
    consumer = f"{SERVICE}-{purpose}"

    def handle(event: HopIn) -> None:
        now = clock.now()
        with unit_of_work(engine) as session:
            if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
                return
            out = HopOut(**event.follow(), occurred_at=now, seq=event.seq)  # type: ignore[arg-type]
            stage(session, out, now=now, subject=out_subject)
            session.commit()

    def apply(session: Session, event: HopIn) -> None:
        now = clock.now()
        out = HopOut(**event.follow(), occurred_at=now, seq=event.seq)  # type: ignore[arg-type]
        stage(session, out, now=now, subject=out_subject)

    if batched:
        # The same hop as deadlines runs it: one transaction per fetched batch
        # (shared.bus.batch_subscriber), an inbox row per message, acks after the commit.
        batch_subscriber(
            broker,
            in_subject,
            service=SERVICE,
            purpose=purpose,
            engine=engine,
            handle=BatchHandler(
                inbox=consumer,
                decode=lambda _subject, data: HopIn.model_validate_json(data),
                event_id=lambda event: str(event.event_id),
                apply=apply,
                now=clock.now,
            ),
            on_commit=relay.wake,
        )
    else:

        @durable_subscriber(broker, in_subject, service=SERVICE, purpose=purpose)
        async def consumed(event: HopIn) -> None:
            await asyncio.to_thread(handle, event)
            relay.wake()

    _log_to_file(db_path.with_suffix(".log"))
    await broker.start()
    relaying = asyncio.create_task(relay.run())
    try:
        await stop.wait()
    finally:
        relay.stop()
        await relaying
        await broker.stop()
        engine.dispose()


def _log_to_file(path: Path) -> None:
    """Send FastStream's lines (one per message, as in a service's log file) to a file."""
    # A service writes them to its log file; here they would bury the table. Written all the
    # same, so that the hop pays for them as a service does.
    stream = path.open("a", encoding="utf-8")
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    for name in ("faststream", "faststream.access.nats"):
        for handler in logging.getLogger(name).handlers:
            # FastStream's own console handlers only: a test runner's capture stays as it is.
            if type(handler) is logging.StreamHandler and handler.stream in consoles:
                handler.setStream(stream)


def project_stored(db_path: Path) -> int:
    """Count the messages the project's hop recorded (outbox rows sent)."""
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with unit_of_work(engine) as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(col(OutboxRow.sent_at).is_not(None))
                ).one()
            )
    finally:
        engine.dispose()


async def run_variant(url: str, folder: Path, variant: str, number: int, messages: int) -> HopRun:
    """Pre-load the messages, run one variant until all are carried, and count the outcome."""
    in_subject, out_subject, purpose = _subjects(variant, number)
    durable = f"{SERVICE}-{purpose}"
    db_path = folder / f"{purpose}.db"
    await preload(url, in_subject, messages)
    stop = asyncio.Event()
    started = time.monotonic()
    carried = (
        bare_hop(url, db_path, in_subject, out_subject, durable, stop)
        if variant == "bare"
        else project_hop(
            url, db_path, in_subject, out_subject, purpose, stop, batched=variant == "batch"
        )
    )
    worker: asyncio.Task[None] = asyncio.create_task(carried)
    waiting = asyncio.create_task(_wait_done(url, in_subject, out_subject, durable, messages))
    await asyncio.wait({worker, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if worker.done():
        # The hop stopped before it carried everything: its error, not a wait to the budget.
        waiting.cancel()
        await worker
        raise RuntimeError(f"the {variant} hop stopped early")
    outputs = waiting.result()
    seconds = time.monotonic() - started
    stop.set()
    await worker
    stored = bare_stored(db_path) if variant == "bare" else project_stored(db_path)
    return HopRun(variant, number, messages, seconds, outputs, stored)


def hop(*, messages: int = 2000, rounds: int = 2, folder: Path | None = None) -> HopResult:
    """Start a nats-server, run both variants `rounds` times each, alternating; stop it."""
    own = folder is None
    root = Path(tempfile.mkdtemp(prefix="qorgau-hop-")) if folder is None else folder
    root.mkdir(parents=True, exist_ok=True)
    server = NatsServer(store_dir=root / "nats", log_file=root / "nats-server.log").start()
    result = HopResult(messages=messages)
    try:
        asyncio.run(provision(server.url))
        for number in range(1, rounds + 1):
            for variant in VARIANTS:
                result.runs.append(
                    asyncio.run(run_variant(server.url, root, variant, number, messages))
                )
    finally:
        server.stop()
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the per-hop comparison and print its table (and JSON, when asked)."""
    parser = argparse.ArgumentParser(prog="python -m bench.hop", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="messages pre-loaded per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternating")
    parser.add_argument("--keep", dest="folder", type=Path, default=None, help="keep data here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    # A SIGTERM (a timeout, a CI cancel) stops as Ctrl-C does: the started processes are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = hop(messages=args.messages, rounds=args.rounds, folder=args.folder)
    print(result.table())
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=1) + "\n", encoding="utf-8")
    return 0 if all(run.complete for run in result.runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
