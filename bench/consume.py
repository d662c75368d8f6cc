"""Benchmark of deadlines' obligation-opened consumer: one transaction per message or per batch.

`python -m bench.consume --count 2000` starts a nats-server of its own (fsync always), loads
`--count` ObligationOpened events into ROUTING, then for each mode starts the consumer on a
fresh database (SQLite, or PostgreSQL with `--pg URL`) and times how long it takes to drain
the stream (every message acked):

- per-message: the consumer as it was, durable_subscriber + on_obligation_opened (a transaction
  and an fsync per message, up to 10 messages handled concurrently).
- batch: batch_subscriber + deadlines' producer-events handler (up to `--batch` messages per
  transaction).

Each mode has its own durable consumer, so both read the same stored messages. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from services.deadlines.handlers import DeadlinesDeps, on_obligation_opened
from services.deadlines.subscribers import _producer, batches_in_flight
from shared.bus import batch_subscriber, durable_subscriber, make_broker
from shared.clock import ALMATY, FixedClock
from shared.contracts.obligations import ObligationOpened
from shared.db import make_engine, migrate
from shared.natsserver import NatsServer
from shared.streams import provision
from tests.bus_helpers import connected

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=ALMATY)
SUBJECT = ObligationOpened.subject("routing")


def _event(case_id: uuid.UUID) -> ObligationOpened:
    return ObligationOpened(
        case_id=case_id,
        correlation_id=case_id,
        occurred_at=T0,
        producer="routing",
        obligation_id=uuid.uuid4(),
        code="R1",
        legal_basis="bench.consume",
        actor_agency_type="police",
        actor_agency_id="kz-75-police",
        region="KZ-75",
        term="hours:24",
        started_at=T0,
    )


async def _load(url: str, count: int) -> int:
    last = 0
    async with connected(url) as (_, js):
        for n in range(count):
            event = _event(uuid.uuid4() if n % 25 == 0 else uuid.UUID(int=n // 25))
            ack = await js.publish(
                SUBJECT,
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(event.event_id)},
            )
            last = ack.seq
    return last


def _database(pg: str | None, folder: Path, mode: str) -> str:
    if pg is None:
        return f"sqlite:///{folder / f'{mode}.db'}"
    name = f"qorgau_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return pg.rsplit("/", 1)[0] + f"/{name}"


def _drop(pg: str, db_url: str) -> None:
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(pg, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _drain(url: str, db_url: str, mode: str, last: int, batch: int) -> dict[str, Any]:
    engine = make_engine(db_url)
    migrate(engine, "deadlines")
    deps = DeadlinesDeps(engine=engine, clock=FixedClock(T0))
    broker = make_broker(url, service="deadlines")
    purpose = f"bench-{mode}-{uuid.uuid4().hex[:8]}"
    if mode == "per-message":

        @durable_subscriber(broker, SUBJECT, service="deadlines", purpose=purpose)
        async def opened(event: ObligationOpened) -> None:
            await asyncio.to_thread(on_obligation_opened, event, deps=deps)

    else:
        batch_subscriber(
            broker,
            SUBJECT,
            service="deadlines",
            purpose=purpose,
            engine=engine,
            handle=_producer(deps),
            batch_size=batch,
            in_flight=batches_in_flight(deps),
        )
    started = time.perf_counter()
    await broker.start()
    try:
        async with connected(url) as (_, js):
            while True:
                info = await js.consumer_info("ROUTING", f"deadlines-{purpose}")
                if info.ack_floor.stream_seq >= last and not info.num_ack_pending:
                    break
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        await broker.stop()
        engine.dispose()
    return {"mode": mode, "seconds": elapsed, "per_second": last / elapsed}


async def _main(count: int, batch: int, pg: str | None, modes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with NatsServer(store_dir=folder / "nats") as server:
            await provision(server.url)
            last = await _load(server.url, count)
            print(
                f"{count} ObligationOpened in ROUTING; database: {'PostgreSQL' if pg else 'SQLite'}"
            )
            for mode in modes:
                db_url = _database(pg, folder, mode)
                try:
                    result = await _drain(server.url, db_url, mode, last, batch)
                finally:
                    if pg is not None:
                        _drop(pg, db_url)
                print(
                    f"{result['mode']:>12}: {result['seconds']:6.2f} s, "
                    f"{result['per_second']:7.0f} messages/s"
                )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pg", help="PostgreSQL admin URL (a database is created per mode)")
    parser.add_argument("--modes", default="per-message,batch")
    args = parser.parse_args()
    asyncio.run(_main(args.count, args.batch, args.pg, args.modes.split(",")))


if __name__ == "__main__":
    main()
