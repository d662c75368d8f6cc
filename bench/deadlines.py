"""Benchmark of the deadlines timer: Qorgau's indexed due column + poller against APScheduler 3.

`make bench-deadlines` (or `python -m bench.deadlines --size N`) runs, on SQLite and on a
throwaway PostgreSQL database, each in a process of its own (so peak memory is its own):

- qorgau: the deadlines service's own code. Scheduling = `on_obligation_opened` (one transaction
  per obligation: the row, the inbox entry, the outbox event, the timeline entry), or with
  `--schedule-batch N` one transaction per N events where the service has the batch
  subscriber's `apply_obligation_opened`. Firing = the service's Poller (the loop of
  services.deadlines.app on the SystemClock: wakes at the next due time, prepares the breaches
  falling due soon in memory, claims and writes them at their due time in batches), which
  breaches, opens the escalation and stages its events in the same transaction.
- apscheduler: the same service built on APScheduler 3 with its SQLAlchemyJobStore on the same
  database. Scheduling = `on_obligation_opened` + `add_job` of a DateTrigger job at the due time
  (the warning job such a design also needs is left out, to APScheduler's advantage). Firing = the
  job runs the same breach code (`handlers._breach`) for its one obligation, in its own transaction.

Measured: scheduling throughput; loading the table to `--size` open obligations (bulk, with
rows like the service's); the idle due-query (what each poll or wakeup asks) at 10 thousand and at
`--size`; firing lateness p50/p99/max for `--burst` obligations falling due in the same second
(lateness = commit of the breach minus the due time), the burst given `--notice` seconds between
its rows being moved to their due time and that time; peak RSS. Not a test: a command.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import Engine

from services.deadlines import handlers, repository
from services.deadlines.config import DeadlinesSettings
from services.deadlines.handlers import (
    DeadlinesDeps,
    FireReport,
    Poller,
    fire_due,
    on_obligation_opened,
)
from services.deadlines.tables import Obligation
from shared.clock import SystemClock
from shared.contracts.obligations import ObligationOpened
from shared.db import is_postgres, make_engine, migrate, unit_of_work
from shared.inbox import claim

PG_ADMIN = os.environ.get("QORGAU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AGENCY_TYPES = ("police", "child_rights_regional", "ombudsman_regional", "education_org", "shelter")
REGIONS = tuple(
    f"KZ-{n}"
    for n in (10, 11, 15, 19, 23, 27, 31, 33, 35, 39, 43, 47, 55, 59, 61, 62, 63, 71, 75, 79)
)
CODES = ("R7", "R8", "R12", "R13", "R19", "R21", "G1", "S4", "F2", "F3")
CHUNK = 5_000
OBLIGATIONS: sa.Table = Obligation.__table__  # type: ignore[attr-defined]
FAR = timedelta(days=3650)
# The inbox consumer of obligation_opened, as the service's subscriber claims it.
OPENED_INBOX = "deadlines-obligation_opened"


# --- helpers ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation) of values, or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float | None]:
    """p50/p99 of fn's wall time over repeat calls, in milliseconds."""
    fn()  # warm the caches and the connection pool
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database URL; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"qorgau_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def opened_event(now: datetime, *, term: str = "working_days:3") -> ObligationOpened:
    """An ObligationOpened as routing publishes it."""
    region = random.choice(REGIONS)
    actor = random.choice(AGENCY_TYPES)
    return ObligationOpened(
        occurred_at=now,
        case_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        producer="routing",
        obligation_id=uuid.uuid4(),
        code=random.choice(CODES),
        legal_basis="Rules 38874, p.12.6",
        actor_agency_type=actor,
        actor_agency_id=f"{region.lower()}-{actor.replace('_', '-')}",
        term=term,
        started_at=now,
        region=region,
    )


def obligation_rows(
    n: int, now: datetime, *, due: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Rows like the service's: open, due from tomorrow to a quarter ahead (or all at `due`)."""
    case_id = str(uuid.uuid4())
    for i in range(n):
        if i % 5 == 0:
            case_id = str(uuid.uuid4())
        region = REGIONS[i % len(REGIONS)]
        actor = AGENCY_TYPES[(i // len(REGIONS)) % len(AGENCY_TYPES)]
        due_at = due or now + timedelta(days=1 + random.random() * 90)
        oid = str(uuid.uuid4())
        yield {
            "obligation_id": oid,
            "case_id": case_id,
            "code": CODES[i % len(CODES)],
            "legal_basis": "Rules 38874, p.12.6",
            "actor_agency_type": actor,
            "actor_agency_id": f"{region.lower()}-{actor.replace('_', '-')}",
            "target_agency_type": None,
            "target_agency_id": None,
            "region": region,
            "term": "working_days:3",
            "started_at": now - timedelta(hours=1),
            "due_at": due_at,
            "warn_at": due_at - timedelta(hours=1),
            "warned": False,
            "status": "open",
            "met_by_platform": False,
            "series_id": oid,
            "occurrence": 0,
            "escalation_level": 0,
            "opened_by": "routing",
            "opened_at": now,
            "correlation_id": case_id,
            "opened_event_id": None,
            "trace_context": "{}",
        }


def bulk_insert(engine: Engine, rows: Iterator[dict[str, Any]], table: Any = None) -> int:
    """Insert rows in chunks; return how many."""
    table = table if table is not None else OBLIGATIONS
    count = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            with engine.begin() as connection:
                connection.execute(sa.insert(table), chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        with engine.begin() as connection:
            connection.execute(sa.insert(table), chunk)
        count += len(chunk)
    return count


def analyse(engine: Engine) -> None:
    """Refresh the planner's statistics after a bulk load, as autovacuum would."""
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


def lateness(samples: list[float]) -> dict[str, float | None]:
    return {
        "count": len(samples),
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "max_ms": max(samples) if samples else None,
    }


# --- qorgau ---------------------------------------------------------------------------------


def qorgau_due_query(deps: DeadlinesDeps) -> Callable[[], Any]:
    return lambda: fire_due(deps=deps, now=datetime.now(UTC))


def run_qorgau(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine, "deadlines")
    clock = SystemClock()
    deps = DeadlinesDeps(engine=engine, clock=clock, policy=DeadlinesSettings().policy())
    interval = DeadlinesSettings().poll_interval
    result: dict[str, Any] = {"poll_interval_s": interval}

    # Scheduling: the real handler, one durable transaction per obligation (or per batch).
    now = clock.now()
    events = [opened_event(now) for _ in range(args.schedule)]
    start = time.perf_counter()
    mode = schedule(events, deps, batch=args.schedule_batch)
    elapsed = time.perf_counter() - start
    result["schedule"] = {"count": args.schedule, "per_s": args.schedule / elapsed, "mode": mode}

    loaded = args.schedule
    for target in sorted({min(10_000, args.size), args.size}):
        start = time.perf_counter()
        added = bulk_insert(engine, obligation_rows(max(target - loaded, 0), now))
        if added:
            result.setdefault("bulk_load", []).append(
                {"rows": added, "per_s": added / (time.perf_counter() - start)}
            )
        loaded += added
        analyse(engine)
        result[f"due_query_at_{target}"] = timed(qorgau_due_query(deps), args.repeat)
        result[f"case_query_at_{target}"] = timed(
            lambda: _case(engine, str(events[0].case_id)), args.repeat
        )

    # Firing: `burst` obligations due in the same second, drained by the service's poller (the
    # same Poller and step loop as services.deadlines.app), which has `--notice` seconds between
    # the burst's rows being moved to their due time and that time; a real midnight's rows are
    # open for days before it.
    settings = DeadlinesSettings()
    poller = Poller(
        deps, interval=interval, ahead=settings.prepare_ahead, keep=settings.prepare_keep
    )
    burst = list(obligation_rows(args.burst, now, due=now + FAR))
    bulk_insert(engine, iter(burst))
    del burst
    analyse(engine)
    due = datetime.now(UTC) + timedelta(seconds=args.notice)
    with engine.begin() as connection:
        connection.execute(
            sa.update(OBLIGATIONS)
            .where(OBLIGATIONS.c.due_at == now + FAR)
            .values(due_at=due, warn_at=due - timedelta(hours=1), warned=True)
        )
    result["notice_s"] = (due - datetime.now(UTC)).total_seconds()
    samples: list[float] = []
    fired = 0
    prepared = 0
    while fired < args.burst:
        report, wait = poller.step()
        prepared = max(prepared, len(poller.prepared))
        for f in report.fired:
            if f.kind == "breached" and f.due_at == due:
                fired += 1
                samples.append((f.committed_at - f.due_at) / timedelta(milliseconds=1))
        time.sleep(wait)
    result["firing"] = lateness(samples)
    result["prepared_ahead"] = prepared
    with unit_of_work(engine) as session:
        result["breach_events"] = session.execute(
            sa.text("select count(*) from outbox where subject like '%obligation_breached%'")
        ).scalar_one()
    result["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    return result


def schedule(events: list[ObligationOpened], deps: DeadlinesDeps, *, batch: int) -> str:
    """Schedule events as the service consumes them; return how ("one by one", "batches of N").

    With batch > 1 and a session-taking `apply_obligation_opened(session, event, *, deps)` in
    the service (the batch subscriber's handler), one transaction per batch: per event the inbox
    claim and the change, one commit, as shared.bus's batch subscriber does. Otherwise one
    transaction per event through `on_obligation_opened`.
    """
    apply = _apply_opened()
    if batch <= 1 or apply is None:
        for event in events:
            on_obligation_opened(event, deps=deps)
        return "one by one"
    for first in range(0, len(events), batch):
        with unit_of_work(deps.engine) as session:
            for event in events[first : first + batch]:
                if claim(
                    session,
                    consumer=OPENED_INBOX,
                    event_id=str(event.event_id),
                    now=deps.clock.now(),
                ):
                    apply(session, event, deps=deps)
            session.commit()
    return f"batches of {batch}"


def _apply_opened() -> Callable[..., Any] | None:
    # The batch subscriber's per-message function, where the service has one.
    from services.deadlines.handlers import obligations

    found = getattr(handlers, "apply_obligation_opened", None)
    return found or getattr(obligations, "apply_obligation_opened", None)


def _case(engine: Engine, case_id: str) -> int:
    with unit_of_work(engine) as session:
        return len(repository.of_case(session, case_id=case_id))


# --- apscheduler ----------------------------------------------------------------------------

# The job function is found by reference ("bench.deadlines:aps_breach"), as APScheduler's job
# store requires; it reaches the scenario's dependencies through these globals.
_APS: dict[str, Any] = {}


def aps_breach(obligation_id: str) -> None:
    """An APScheduler job: breach one obligation with the service's own code."""
    deps: DeadlinesDeps = _APS["deps"]
    pg = is_postgres(deps.engine)
    with unit_of_work(deps.engine) as session:
        now = deps.clock.now()
        if not pg:
            repository.tick_poller(session, now=now)
        calendar = deps.calendars.current(session)
        claimed = repository.claim_due(
            session, now=now, limit=1, skip_locked=pg, ids=[obligation_id]
        )
        if not claimed:
            return
        o = claimed[0]
        batch = handlers._Batch(now=now)
        handlers._breach(o, batch, deps=deps, calendar=calendar, report=FireReport())
        batch.write(session)
        due = o.due_at
        session.commit()
    assert due is not None
    late = (deps.clock.now() - due) / timedelta(milliseconds=1)
    with _APS["lock"]:
        _APS["samples"].append(late)


def run_apscheduler(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_ERROR
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    engine = make_engine(url)
    migrate(engine, "deadlines")
    clock = SystemClock()
    deps = DeadlinesDeps(engine=engine, clock=clock, policy=DeadlinesSettings().policy())
    _APS.update(deps=deps, lock=threading.Lock(), samples=[], errors=0)
    store = SQLAlchemyJobStore(engine=engine)
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(10)},
        # A statutory breach must fire however late: no misfire grace, no coalescing.
        job_defaults={"misfire_grace_time": None, "coalesce": False},
        timezone=UTC,
    )

    def count_error(_event: Any) -> None:
        _APS["errors"] += 1

    scheduler.add_listener(count_error, EVENT_JOB_ERROR)
    scheduler.start(paused=True)
    result: dict[str, Any] = {"executor_threads": 10}

    now = clock.now()
    events = [opened_event(now) for _ in range(args.schedule)]
    start = time.perf_counter()
    for event in events:
        on_obligation_opened(event, deps=deps)
        with unit_of_work(engine) as session:
            due = repository.get(session, obligation_id=str(event.obligation_id)).due_at  # type: ignore[union-attr]
        scheduler.add_job(
            aps_breach,
            DateTrigger(run_date=due),
            args=[str(event.obligation_id)],
            id=str(event.obligation_id),
        )
    elapsed = time.perf_counter() - start
    result["schedule"] = {"count": args.schedule, "per_s": args.schedule / elapsed}

    # Job rows for the bulk load: the state add_job would pickle, one per obligation.
    template = store.lookup_job(str(events[0].obligation_id)).__getstate__()  # type: ignore[union-attr]

    def job_rows(rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            state = {
                **template,
                "id": row["obligation_id"],
                "args": (row["obligation_id"],),
                "trigger": DateTrigger(run_date=row["due_at"]),
                "next_run_time": row["due_at"],
            }
            yield {
                "id": row["obligation_id"],
                "next_run_time": row["due_at"].timestamp(),
                "job_state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL),
            }

    def load(n: int, *, due: datetime | None = None) -> list[dict[str, Any]]:
        loaded_rows: list[dict[str, Any]] = []
        remaining = n
        while remaining > 0:
            part = list(obligation_rows(min(remaining, 50_000), now, due=due))
            bulk_insert(engine, iter(part))
            bulk_insert(engine, job_rows(part), table=store.jobs_t)
            remaining -= len(part)
            if due is not None:
                loaded_rows.extend(part)
        return loaded_rows

    def due_query() -> None:
        store.get_due_jobs(datetime.now(UTC))
        store.get_next_run_time()

    loaded = args.schedule
    for target in sorted({min(10_000, args.size), args.size}):
        start = time.perf_counter()
        added = max(target - loaded, 0)
        load(added)
        if added:
            result.setdefault("bulk_load", []).append(
                {"rows": added, "per_s": added / (time.perf_counter() - start)}
            )
        loaded += added
        analyse(engine)
        result[f"due_query_at_{target}"] = timed(due_query, args.repeat)

    # Firing: the burst's jobs and rows moved to one second, then the scheduler resumed.
    burst = load(args.burst, due=now + FAR)
    analyse(engine)
    due = datetime.now(UTC) + timedelta(seconds=args.notice)
    with engine.begin() as connection:
        connection.execute(
            sa.update(OBLIGATIONS)
            .where(OBLIGATIONS.c.due_at == now + FAR)
            .values(due_at=due, warn_at=due - timedelta(hours=1), warned=True)
        )
        moved = [{**row, "due_at": due} for row in burst]
        connection.execute(
            store.jobs_t.update()
            .where(store.jobs_t.c.id == sa.bindparam("b_id"))
            .values(next_run_time=sa.bindparam("b_next"), job_state=sa.bindparam("b_state")),
            [
                {"b_id": r["id"], "b_next": r["next_run_time"], "b_state": r["job_state"]}
                for r in job_rows(moved)
            ],
        )
    result["notice_s"] = (due - datetime.now(UTC)).total_seconds()
    scheduler.resume()
    scheduler.wakeup()
    deadline = time.monotonic() + args.timeout
    while len(_APS["samples"]) < args.burst and time.monotonic() < deadline:
        time.sleep(0.2)
    scheduler.shutdown(wait=True)
    result["firing"] = lateness(list(_APS["samples"]))
    result["job_errors"] = _APS["errors"]
    result["peak_rss_mb"] = peak_rss_mb()
    engine.dispose()
    return result


# --- orchestration --------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[str, argparse.Namespace], dict[str, Any]]] = {
    "qorgau": run_qorgau,
    "apscheduler": run_apscheduler,
}


def run_scenario(args: argparse.Namespace) -> int:
    backend, impl = args.scenario.split(":")
    random.seed(4)
    workdir = Path(args.workdir)
    with database(backend, workdir) as url:
        started = time.perf_counter()
        result = SCENARIOS[impl](url, args)
        result["seconds"] = time.perf_counter() - started
    print(json.dumps({"scenario": args.scenario, **result}))
    return 0


@dataclass
class Row:
    label: str
    key: Callable[[dict[str, Any]], float | None]
    unit: str
    better: str  # "higher" or "lower"


ROWS = [
    Row("scheduling throughput", lambda r: r["schedule"]["per_s"], "obligations/s", "higher"),
    Row("firing lateness p50", lambda r: r["firing"]["p50_ms"], "ms", "lower"),
    Row("firing lateness p99", lambda r: r["firing"]["p99_ms"], "ms", "lower"),
    Row("firing lateness max", lambda r: r["firing"]["max_ms"], "ms", "lower"),
    Row("fired of the burst", lambda r: r["firing"]["count"], "obligations", "higher"),
    Row("burst prepared ahead", lambda r: r.get("prepared_ahead"), "obligations", "higher"),
    Row(
        "idle due-query p50 at 10k", lambda r: _at(r, "due_query", 10_000, "p50_ms"), "ms", "lower"
    ),
    Row(
        "idle due-query p99 at 10k", lambda r: _at(r, "due_query", 10_000, "p99_ms"), "ms", "lower"
    ),
    Row("idle due-query p50 at size", lambda r: _at(r, "due_query", None, "p50_ms"), "ms", "lower"),
    Row("idle due-query p99 at size", lambda r: _at(r, "due_query", None, "p99_ms"), "ms", "lower"),
    Row(
        "case obligations query p50 at 10k",
        lambda r: _at(r, "case_query", 10_000, "p50_ms"),
        "ms",
        "lower",
    ),
    Row(
        "case obligations query p50 at size",
        lambda r: _at(r, "case_query", None, "p50_ms"),
        "ms",
        "lower",
    ),
    Row(
        "case obligations query p99 at size",
        lambda r: _at(r, "case_query", None, "p99_ms"),
        "ms",
        "lower",
    ),
    Row("peak memory (RSS)", lambda r: r["peak_rss_mb"], "MB", "lower"),
]


def _at(result: dict[str, Any], name: str, size: int | None, field: str) -> float | None:
    keys = sorted(
        (k for k in result if k.startswith(f"{name}_at_")), key=lambda k: int(k.rsplit("_", 1)[1])
    )
    if not keys:
        return None
    key = keys[-1] if size is None else f"{name}_at_{min(size, int(keys[-1].rsplit('_', 1)[1]))}"
    value = result.get(key, {}).get(field)
    return float(value) if value is not None else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def report(results: dict[str, dict[str, Any]], backends: list[str]) -> str:
    """The side-by-side table, with APScheduler / Qorgau ratios."""
    lines = []
    for backend in backends:
        q = results.get(f"{backend}:qorgau")
        a = results.get(f"{backend}:apscheduler")
        lines.append(f"\n{backend}")
        lines.append(
            f"  {'measure':<30} {'qorgau':>12} {'apscheduler':>12} {'aps/qorgau':>11}  unit"
        )
        for row in ROWS:
            qv = row.key(q) if q else None
            av = row.key(a) if a else None
            ratio = f"{av / qv:.2f}x" if qv and av is not None else "-"
            lines.append(f"  {row.label:<36} {_fmt(qv):>12} {_fmt(av):>12} {ratio:>11}  {row.unit}")
        for name, r in (("qorgau", q), ("apscheduler", a)):
            if r and r.get("bulk_load"):
                rates = ", ".join(
                    f"{b['rows']:,} rows at {b['per_s']:,.0f}/s" for b in r["bulk_load"]
                )
                lines.append(f"  bulk load ({name}): {rates}; scenario {r['seconds']:.0f} s")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """The machine the figures came from."""
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    pg = "unknown"
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2) as connection:
            pg = str(connection.execute("show server_version").fetchone()[0])  # type: ignore[index]
    except Exception as error:
        pg = f"unreachable ({type(error).__name__})"
    import sqlite3

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "kernel": platform.release(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.deadlines", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="open obligations to load")
    parser.add_argument("--burst", type=int, default=10_000, help="obligations due in one second")
    parser.add_argument(
        "--schedule", type=int, default=2_000, help="obligations scheduled one by one"
    )
    parser.add_argument(
        "--schedule-batch",
        type=int,
        default=1,
        help="schedule in transactions of this many events, where the service can (else 1)",
    )
    parser.add_argument(
        "--notice",
        type=float,
        default=35.0,
        help="seconds between the burst being moved to its due time and that time",
    )
    parser.add_argument("--repeat", type=int, default=200, help="samples per query latency")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--impls", nargs="+", default=["qorgau", "apscheduler"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a burst")
    parser.add_argument("--json", default=None, help="write all results to this file")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--scenario", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size < args.schedule:
        parser.error("--size must be at least --schedule")
    if args.scenario:
        return run_scenario(args)

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qorgau-bench-") as tmp:
        workdir = args.workdir or tmp
        for backend in args.backends:
            for impl in args.impls:
                scenario = f"{backend}:{impl}"
                print(
                    f"running {scenario} (size {args.size:,}, burst {args.burst:,}) ...", flush=True
                )
                command = [sys.executable, "-m", "bench.deadlines", "--scenario", scenario]
                for name in ("size", "burst", "schedule", "schedule_batch", "notice", "repeat"):
                    command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
                command += ["--timeout", str(args.timeout)]
                command += ["--workdir", workdir]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    results[scenario] = {"error": done.stderr[-500:]}
                    continue
                results[scenario] = json.loads(done.stdout.strip().splitlines()[-1])
    ok = {k: v for k, v in results.items() if "error" not in v}
    info = machine()
    print("\nmachine: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    print(f"size {args.size:,} open obligations; burst {args.burst:,} due in one second")
    print(report(ok, args.backends))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": info, "args": vars(args), "results": results}, indent=2),
            encoding="utf-8",
        )
    return 0 if len(ok) == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
