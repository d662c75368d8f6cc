"""Benchmark of the outbox relay: staged rows to PubAcks, with a real nats-server fsyncing always.

`python -m bench.relay --rows 2000` stages `--rows` events in the intake outbox (one committed
transaction), starts a provisioned nats-server (`sync_interval: always`) on a temporary store,
and times `OutboxRelay.relay_once` from the first call until every row is marked sent, on SQLite
and (when it answers) on a throwaway PostgreSQL database. It checks that the stream holds each
event exactly once. Not a test: a command; the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

from bench.common import drop_database, sample_event, throwaway_database
from shared.bus import make_broker
from shared.clock import SystemClock
from shared.db import make_engine, migrate, unit_of_work
from shared.natsserver import NatsServer
from shared.outbox import OutboxRelay, outbox_row, pending_count
from shared.streams import provision


async def _stream_count(url: str) -> int:
    connection = await nats.connect(url)
    try:
        info = await connection.jetstream().stream_info("INTAKE")
        return int(info.state.messages)
    finally:
        await connection.close()


async def run_once(
    database_url: str, nats_url: str, rows: int, **relay_options: Any
) -> tuple[float, float]:
    """Relay `rows` staged events: events per second to the last PubAck, relay CPU µs per event."""
    engine = make_engine(database_url)
    migrate(engine, "intake")
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        session.add_all([outbox_row(sample_event(now), now=now) for _ in range(rows)])
        session.commit()
    before = await _stream_count(nats_url)
    broker = make_broker(nats_url, service="intake")
    await broker.connect()
    try:
        relay = OutboxRelay(engine=engine, publisher=broker, clock=SystemClock(), **relay_options)
        started, cpu = time.perf_counter(), time.process_time()
        while pending_count(engine):
            await relay.relay_once()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        await broker.stop()
        engine.dispose()
    stored = await _stream_count(nats_url) - before
    if stored != rows:
        raise SystemExit(f"stream holds {stored} new events, expected {rows}")
    return rows / elapsed, 1e6 * cpu / rows


async def main(rows: int, repeat: int, in_flight: int | None) -> None:
    """Print events per second on SQLite and PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-relay-") as folder:
        server = NatsServer(store_dir=Path(folder) / "nats").start()
        try:
            await provision(server.url)
            window = "" if in_flight is None else f", {in_flight} in flight"
            print(f"relay: {rows} staged events -> all PubAcks (sync_interval: always{window})")
            for backend in ("sqlite", "postgres"):
                figures = []
                for attempt in range(repeat):
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(folder) / f'relay-{attempt}.db'}"
                    else:
                        found = throwaway_database("qorgau_bench_relay")
                        if found is None:
                            print("postgres: not reachable, skipped")
                            break
                        url = found
                    try:
                        options = {} if in_flight is None else {"in_flight": in_flight}
                        figures.append(await run_once(url, server.url, rows, **options))
                    finally:
                        if backend == "postgres":
                            drop_database(url)
                if figures:
                    shown = ", ".join(f"{rate:,.0f}" for rate, _cpu in figures)
                    best = max(rate for rate, _cpu in figures)
                    cpu = min(cpu for _rate, cpu in figures)
                    print(
                        f"{backend:9} best {best:8,.0f} events/s, relay CPU {cpu:5.0f} µs/event"
                        f"   (runs: {shown})"
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=None, help="PubAcks awaited at once")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.repeat, arguments.in_flight))
