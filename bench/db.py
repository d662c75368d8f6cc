"""Micro-benchmark of one service transaction: inbox claim + state row + outbox row, committed.

`python -m bench.db --transactions 2000` runs, on a fresh SQLite file (WAL, synchronous=FULL) and
on a throwaway PostgreSQL database (synchronous_commit on), `--transactions` units of work of the
deadlines schema, each as a consumer's handler does it: `shared.inbox.claim`, a timeline row, an
outbox row through `shared.outbox.stage`, one commit (one fsync). Single-threaded, so the figure
is the cost of one transaction; `--threads` runs that many writers at once (as to_thread
handlers do). Not a test: a command; the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from bench.common import drop_database, sample_event, throwaway_database
from services.deadlines.tables import TimelineEntry
from shared.db import make_engine, migrate, unit_of_work
from shared.inbox import claim
from shared.outbox import stage


def one_transaction(engine: Engine, now: datetime) -> None:
    """Claim an event, write a state row and an outbox row, commit."""
    event = sample_event(now)
    with unit_of_work(engine) as session:
        if not claim(session, consumer="bench", event_id=str(event.event_id), now=now):
            raise RuntimeError("a fresh event was taken for a repeat")
        session.add(
            TimelineEntry(
                case_id=str(event.case_id),
                event_id=str(event.event_id),
                event="intake.report_received",
                occurred_at=now,
                recorded_at=now,
            )
        )
        stage(session, event, now=now)
        session.commit()


def measure(url: str, transactions: int, threads: int) -> tuple[float, float]:
    """Return committed transactions per second and this process's CPU µs per transaction."""
    engine = make_engine(url)
    migrate(engine, "deadlines")
    now = datetime.now(UTC)
    for _ in range(20):
        one_transaction(engine, now)
    each = transactions // threads

    def writer() -> None:
        for _ in range(each):
            one_transaction(engine, now)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return each * threads / elapsed, 1e6 * cpu / (each * threads)


def main(transactions: int, threads: int, repeat: int) -> None:
    """Print transactions per second on SQLite and PostgreSQL."""
    shape = "inbox claim + state row + outbox row, commit"
    print(f"db: {transactions} x ({shape}), {threads} thread(s)")
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-db-") as folder:
        for backend in ("sqlite", "postgres"):
            figures = []
            for attempt in range(repeat):
                if backend == "sqlite":
                    url = f"sqlite:///{Path(folder) / f'db-{attempt}.db'}"
                else:
                    found = throwaway_database("qorgau_bench_db")
                    if found is None:
                        print("postgres: not reachable, skipped")
                        break
                    url = found
                try:
                    figures.append(measure(url, transactions, threads))
                finally:
                    if backend == "postgres":
                        drop_database(url)
            if figures:
                shown = ", ".join(f"{rate:,.0f}" for rate, _cpu in figures)
                best = max(rate for rate, _cpu in figures)
                cpu = min(cpu for _rate, cpu in figures)
                print(f"{backend:9} best {best:6,.0f} tx/s, CPU {cpu:5.0f} µs/tx   (runs: {shown})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    main(arguments.transactions, arguments.threads, arguments.repeat)
