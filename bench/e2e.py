"""End to end: reports per second from `POST /v1/reports` to deadlines' three R1 obligations.

`make bench-e2e` (or `python -m bench.e2e --rates 2,5,10,20,50 --seconds 60`) starts, for each
rate, the platform as real processes (`qorgau up` on free ports with a fresh var folder in a
temporary directory, as the e2e tests do: tests/e2e/conftest.py), subscribes on the bus to
deadlines' `obligation_scheduled`, and sends reports open loop: report i leaves at t0 + i/rate
whether or not the earlier ones were answered, bounded in count (rate x seconds) and in time;
loopback only. Each report is a school's about violence against a child of its own (the shape
of the e2e tests and the chaos run: bench.chaos.report_body), so routing's R1 opens three
obligations (police, child_rights_regional, ombudsman_regional).

A report's end-to-end time runs from just before its HTTP request until the third R1
`obligation_scheduled` of its case (the case id is in intake's 201 answer and in the events)
is seen on the bus. After the sending window the bench waits up to --drain seconds for the
rest; a report still unfinished then counts with the time it has waited so far, and its
percentile is printed as a lower bound (">=").

The table gives, per rate: offered and achieved (cases finished per second, from the first
request to the last finish), answers 201 / 503 / other, end-to-end p50 / p90 / p99 / max, the
HTTP answer's p99, unfinished reports, and whether the platform saturated: p99 over 1 s, or
the backlog growing (more reports in flight at the end of the sending window than at its
middle, by more than a second's worth). Then the peak RSS (VmHWM) of each process.

`--services` chooses what runs: `bus` (default: the six services on the bus, casework and the
family centre consuming routing's and deadlines' events as in production), `path` (intake,
routing, deadlines only), `all` (the console too) or a comma-separated list. `--backend
postgres` gives each service a database of its own on the PostgreSQL at --pg-admin, created
before and dropped after each rate. `--hop N` also runs the per-hop comparison (bench.hop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats

from bench.chaos import REPORTER, _machine, report_body
from qorgau.pgserver import ServiceDatabases
from qorgau.registry import BUS_SERVICE_NAMES, SERVICE_NAMES
from shared import natsauth
from shared.contracts.deadlines import ObligationScheduled
from tests.e2e.conftest import Platform, start_platform, stop_platform

PATH_SERVICES = ("intake", "routing", "deadlines")
PG_ADMIN = os.environ.get("QORGAU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# A school's report about violence: R1 opens one obligation per agency to be told.
R1_OBLIGATIONS = 3
# Over this p99 (seconds) a rate counts as saturated.
SATURATED_P99 = 1.0
HTTP_TIMEOUT = 30.0


def choose_services(choice: str) -> tuple[str, ...]:
    """Return the services `--services` names: bus, path, all, or a comma-separated list."""
    named = {"bus": BUS_SERVICE_NAMES, "path": PATH_SERVICES, "all": SERVICE_NAMES}
    if choice in named:
        return tuple(named[choice])
    chosen = tuple(part.strip() for part in choice.split(",") if part.strip())
    unknown = [name for name in chosen if name not in SERVICE_NAMES]
    if unknown or not set(PATH_SERVICES) <= set(chosen):
        raise ValueError(
            f"--services: {choice!r}; give bus, path, all or services including "
            f"{', '.join(PATH_SERVICES)} (known: {', '.join(SERVICE_NAMES)})"
        )
    return chosen


def percentile(values: Sequence[tuple[float, bool]], share: float) -> tuple[float, bool]:
    """Return the nearest-rank percentile of (value, lower bound only) pairs, sorted or not."""
    if not values:
        return (float("nan"), False)
    ordered = sorted(values)
    # The smallest value with at least that share of the values at or below it.
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def _seconds(found: tuple[float, bool]) -> str:
    value, bound = found
    if value != value:  # NaN: nothing to measure
        return "-"
    return f"{'>=' if bound else ''}{value:.2f}"


@dataclass
class RateResult:
    """What one rate gave."""

    rate: float
    seconds: float
    services: tuple[str, ...]
    backend: str
    sent: int = 0
    sending_took: float = 0.0
    answers: dict[str, int] = field(default_factory=dict)
    finished: int = 0
    unfinished: int = 0
    achieved: float = 0.0
    # Seconds from the request to the third R1 obligation_scheduled; True: still unfinished.
    e2e: list[tuple[float, bool]] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    in_flight_middle: int = 0
    in_flight_end: int = 0
    scheduled_events: int = 0
    peak_rss_kib: dict[str, int] = field(default_factory=dict)
    # CPU seconds (user + system) each process spent while this rate ran, drain included.
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def backlog_growing(self) -> bool:
        """Tell whether more reports were in flight at the end of sending than at its middle."""
        return (
            self.in_flight_end > self.in_flight_middle + self.rate
            and self.in_flight_end > self.rate
        )

    @property
    def saturated(self) -> bool:
        """Tell whether the rate was more than the platform could carry in time."""
        p99, _ = percentile(self.e2e, 0.99)
        return bool(self.unfinished) or self.backlog_growing or not p99 <= SATURATED_P99

    def row(self) -> str:
        """Return the rate's line of the table."""
        others = sum(
            count for answer, count in self.answers.items() if answer not in ("201", "503")
        )
        http99 = percentile([(value, False) for value in self.http], 0.99)
        why = []
        if self.backlog_growing:
            why.append("backlog growing")
        if self.unfinished:
            why.append(f"{self.unfinished} unfinished")
        verdict = ("yes" + (f" ({', '.join(why)})" if why else "")) if self.saturated else "no"
        return (
            f"{self.rate:>6g} {self.achieved:>8.1f} {self.answers.get('201', 0):>6} "
            f"{self.answers.get('503', 0):>5} {others:>6} "
            f"{_seconds(percentile(self.e2e, 0.50)):>8} {_seconds(percentile(self.e2e, 0.90)):>8} "
            f"{_seconds(percentile(self.e2e, 0.99)):>8} {_seconds(percentile(self.e2e, 1.0)):>8} "
            f"{_seconds(http99):>8}  {verdict}"
        )


HEADER = (
    f"{'rate/s':>6} {'achieved':>8} {'201':>6} {'503':>5} {'other':>6} "
    f"{'e2e p50':>8} {'e2e p90':>8} {'e2e p99':>8} {'e2e max':>8} {'http p99':>8}  saturated"
)


def table(results: Sequence[RateResult]) -> str:
    """Return the table of every rate, then each process's peak RSS per rate."""
    if not results:
        return "(no rate measured)"
    first = results[0]
    lines = [
        f"End to end, {first.backend}, services: {' '.join(first.services)}; "
        f"{first.seconds:g} s per rate; times in seconds",
        HEADER,
        *(result.row() for result in results),
        "",
        "Peak RSS (VmHWM), MiB, and load average (1 min) before/after:",
    ]
    names = sorted({name for result in results for name in result.peak_rss_kib})
    lines.append(f"{'rate/s':>6} " + " ".join(f"{name[:12]:>12}" for name in names) + "   load")
    for result in results:
        cells = " ".join(f"{result.peak_rss_kib.get(name, 0) / 1024:>12.0f}" for name in names)
        lines.append(
            f"{result.rate:>6g} {cells}   {result.load_before[0]:.1f}/{result.load_after[0]:.1f}"
        )
    lines += ["", "CPU per accepted report, ms (user + system, sending and drain):"]
    names = sorted({name for result in results for name in result.cpu_seconds})
    lines.append(f"{'rate/s':>6} " + " ".join(f"{name[:12]:>12}" for name in names) + "   all")
    for result in results:
        accepted = max(result.answers.get("201", 0), 1)
        per = {name: 1000 * result.cpu_seconds.get(name, 0.0) / accepted for name in names}
        cells = " ".join(f"{per[name]:>12.1f}" for name in names)
        lines.append(f"{result.rate:>6g} {cells}   {sum(per.values()):.1f}")
    return "\n".join(lines)


# -- processes -------------------------------------------------------------------------------

_SERVICE_ROW = re.compile(r"^\s+(\w+)\s+http://\S+\s+pid (\d+)")
_NATS_ROW = re.compile(r"^\s+nats\s+.*\s(\d+)\s*$")


def process_ids(output: str) -> dict[str, int]:
    """Return the pid of each process `qorgau up` says it runs (its table of what is running)."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        if match := _SERVICE_ROW.match(line):
            found[match.group(1)] = int(match.group(2))
        elif match := _NATS_ROW.match(line):
            found["nats-server"] = int(match.group(1))
    return found


def peak_rss_kib(pid: int) -> int:
    """Return a process's peak resident set size so far (VmHWM), in KiB; 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    # Fields after the command name (which may hold spaces) start at field 3; utime is 14.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pids: Iterable[int], *, limit: float = 30.0) -> None:
    # The rate's case is finished at its third R1; the read models and the timeline may still
    # be working on it: their CPU counts too, so wait until the processes are near idle.
    pids = list(pids)
    until = time.monotonic() + limit
    last = sum(cpu_seconds(pid) for pid in pids)
    while time.monotonic() < until:
        time.sleep(1.0)
        now = sum(cpu_seconds(pid) for pid in pids)
        if now - last < 0.3:
            return
        last = now


@contextlib.contextmanager
def _environment(extra: dict[str, str]) -> Iterator[None]:
    """Set variables for the processes started inside (start_platform passes os.environ on)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def databases(backend: str, services: Sequence[str], admin: str) -> Iterator[dict[str, str]]:
    """Yield the services' <NAME>_DATABASE_URL variables: none for SQLite (var/<name>.db)."""
    if backend == "sqlite":
        yield {}
        return
    on_bus = [name for name in services if name in BUS_SERVICE_NAMES]
    # Names of the run's own on a shared server, dropped afterwards (qorgau.cluster does so).
    made = ServiceDatabases(admin, prefix=f"qorgau_e2e{uuid.uuid4().hex[:8]}_")
    urls = made.create(on_bus)
    try:
        yield {f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}
    finally:
        made.drop(on_bus)


# -- load ------------------------------------------------------------------------------------


class Finishes:
    """The R1 obligation_scheduled events seen on the bus, by case: when each case finished."""

    def __init__(self) -> None:
        self.r1: dict[str, dict[str, float]] = {}
        self.finished_at: dict[str, float] = {}
        self.events = 0

    async def on_message(self, message: Any) -> None:
        """Note an obligation_scheduled event: the third R1 one of a case finishes it."""
        seen = time.monotonic()
        self.events += 1
        event = json.loads(message.data)
        case_id, code = event.get("case_id"), event.get("code")
        if not case_id or code != "R1":
            return
        obligations = self.r1.setdefault(case_id, {})
        obligations.setdefault(str(event.get("obligation_id")), seen)
        if len(obligations) == R1_OBLIGATIONS and case_id not in self.finished_at:
            self.finished_at[case_id] = seen


@dataclass
class Sent:
    """One report: when it left, when and how it was answered, and its case."""

    index: int
    at: float
    answered: float | None = None
    answer: str = ""
    case_id: str | None = None


async def _send(client: httpx.AsyncClient, url: str, token: str, report: Sent) -> None:
    body = report_body(report.index, datetime.now(UTC))
    report.at = time.monotonic()
    try:
        answer = await client.post(
            f"{url}/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as error:
        report.answer = type(error).__name__
    else:
        report.answer = str(answer.status_code)
        if answer.status_code == 201:
            report.case_id = str(answer.json()["case_id"])
    report.answered = time.monotonic()


async def drive(platform: Platform, *, rate: float, seconds: float, drain: float) -> RateResult:
    """Send rate x seconds reports open loop; measure each until its case finished."""
    result = RateResult(rate=rate, seconds=seconds, services=(), backend="")
    finishes = Finishes()
    bus = await nats.connect(**natsauth.connect_options(platform.nats_url()), connect_timeout=10)
    try:
        await bus.subscribe(
            ObligationScheduled.subject(),
            cb=finishes.on_message,
            pending_msgs_limit=1_000_000,
            pending_bytes_limit=1024**3,
        )
        await bus.flush()
        token = platform.token(REPORTER)
        url = platform.url("intake")
        reports: list[Sent] = []
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=limits) as client:
            tasks = []
            t0 = time.monotonic() + 0.2
            total = round(rate * seconds)

            def in_flight() -> int:
                failed = sum(1 for found in reports if found.answer and found.answer != "201")
                return len(reports) - len(finishes.finished_at) - failed

            for index in range(total):
                due = t0 + index / rate
                if due - time.monotonic() > 0:
                    await asyncio.sleep(due - time.monotonic())
                if time.monotonic() > t0 + seconds + 1.0:
                    break  # the client itself fell behind: bounded in time all the same
                if index == total // 2:
                    result.in_flight_middle = in_flight()
                report = Sent(index, time.monotonic())
                reports.append(report)
                tasks.append(asyncio.create_task(_send(client, url, token, report)))
            result.in_flight_end = in_flight()
            result.sent = len(reports)
            result.sending_took = time.monotonic() - t0
            until = time.monotonic() + drain
            while time.monotonic() < until:
                answered = all(task.done() for task in tasks)
                cases = {found.case_id for found in reports if found.case_id}
                if answered and cases <= set(finishes.finished_at):
                    break
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await bus.close()
    now = time.monotonic()
    result.answers = dict(Counter(found.answer or "unanswered" for found in reports))
    result.scheduled_events = finishes.events
    last = 0.0
    for found in reports:
        if found.answered is not None:
            result.http.append(found.answered - found.at)
        if found.case_id is None:
            continue
        finished = finishes.finished_at.get(found.case_id)
        if finished is None:
            result.unfinished += 1
            result.e2e.append((now - found.at, True))
        else:
            result.finished += 1
            result.e2e.append((finished - found.at, False))
            last = max(last, finished)
    if result.finished and reports:
        result.achieved = result.finished / (last - reports[0].at)
    return result


def measure_rate(
    rate: float,
    *,
    seconds: float,
    drain: float,
    services: tuple[str, ...],
    backend: str,
    pg_admin: str,
    folder: Path,
) -> RateResult:
    """Start the platform afresh, drive one rate, note the peak RSS, stop everything."""
    with databases(backend, services, pg_admin) as urls, _environment(urls):
        platform = start_platform(folder / "var", services)
        try:
            pids = process_ids(platform.output.read_text(encoding="utf-8", errors="replace"))
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            load_before = os.getloadavg()
            result = asyncio.run(drive(platform, rate=rate, seconds=seconds, drain=drain))
            result.load_before, result.load_after = load_before, os.getloadavg()
            _wait_idle(pids.values())
            result.peak_rss_kib = {name: peak_rss_kib(pid) for name, pid in pids.items()}
            result.cpu_seconds = {
                name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()
            }
        finally:
            stop_platform(platform)
    result.services, result.backend = services, backend
    return result


def e2e(
    *,
    rates: Sequence[float],
    seconds: float = 60.0,
    drain: float = 60.0,
    services: tuple[str, ...] = BUS_SERVICE_NAMES,
    backend: str = "sqlite",
    pg_admin: str = PG_ADMIN,
    stop_when_saturated: bool = False,
    folder: Path | None = None,
    progress: bool = True,
) -> list[RateResult]:
    """Measure each rate on a platform of its own; return the results in order."""
    results: list[RateResult] = []
    for rate in rates:
        own = folder is None
        root = Path(tempfile.mkdtemp(prefix="qorgau-e2e-")) if folder is None else folder
        where = root / f"rate-{rate:g}"
        try:
            result = measure_rate(
                rate,
                seconds=seconds,
                drain=drain,
                services=services,
                backend=backend,
                pg_admin=pg_admin,
                folder=where,
            )
        finally:
            if own:
                shutil.rmtree(root, ignore_errors=True)
        results.append(result)
        if progress:
            print(f"{HEADER}\n{result.row()}", flush=True)
        if stop_when_saturated and result.saturated:
            break
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the end-to-end benchmark (and the per-hop one, if asked); print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.e2e",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rates", default="2,5,10,20,50", help="reports per second, e.g. 2,5,10")
    parser.add_argument("--seconds", type=float, default=60.0, help="sending time per rate")
    parser.add_argument("--drain", type=float, default=60.0, help="wait for stragglers (s)")
    parser.add_argument("--services", default="bus", help="bus, path, all or a list")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL admin URL (postgres)")
    parser.add_argument(
        "--stop-when-saturated", action="store_true", help="skip the rates above a saturated one"
    )
    parser.add_argument("--hop", type=int, default=0, help="also run bench.hop with N messages")
    parser.add_argument("--keep", dest="folder", type=Path, default=None, help="keep data here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    # A SIGTERM (a timeout, a CI cancel) stops as Ctrl-C does: the started processes are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    rates = [float(part) for part in args.rates.split(",") if part.strip()]
    print(f"machine: {_machine()}; load average {os.getloadavg()}", flush=True)
    results = e2e(
        rates=rates,
        seconds=args.seconds,
        drain=args.drain,
        services=choose_services(args.services),
        backend=args.backend,
        pg_admin=args.pg_admin,
        stop_when_saturated=args.stop_when_saturated,
        folder=args.folder,
    )
    print()
    print(table(results))
    figures: dict[str, Any] = {"machine": _machine(), "e2e": [asdict(found) for found in results]}
    if args.hop:
        from bench.hop import hop

        compared = hop(messages=args.hop)
        print()
        print(compared.table())
        figures["hop"] = asdict(compared)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
