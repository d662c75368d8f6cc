"""Chaos run of the production shape: reports sent while instances, NATS and PostgreSQL die.

`make chaos` (or `python -m bench.chaos --reports 1000 --rate 20`) starts a `Cluster`
(qorgau/cluster.py: three NATS nodes, streams at three replicas, a PostgreSQL server of its
own, two instances of each service), sends the reports to the intake instances at a fixed
rate (open loop: a report is sent on time whether or not the previous ones were answered;
bounded in count and in time; loopback only) while it injects faults in turn:

- kill -9 a random service instance, start it again a moment later;
- kill -9 the NATS node leading a stream (asked of JetStream), start it again;
- crash PostgreSQL (immediate stop, recovery from WAL at the next start), start it again.

Then it checks what `docs/reliability.md` reports: every report answered 201 has its case and
its three R1 obligations (read from deadlines' API), no obligation or referral twice (the
services' databases), the DLQ empty, and every consumer caught up (nothing pending, nothing
awaiting an ack, no outbox row unsent) within the allowed time after the last fault.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg

from qorgau.cluster import Cluster, Instance, stream_leader
from shared.iin import check_digit
from shared.natsauth import connect_options
from shared.streams import STREAMS

# The streams whose leader the run kills: those every report goes through.
LEADER_STREAMS = ("INTAKE", "ROUTING", "DEADLINES")
FAULT_KINDS = ("instance", "nats_leader", "postgres")
REPORTER = "school-17"
# How long one report may take, retries included, before the client gives up on it.
SEND_BUDGET = 30.0
R1_TARGETS = {"police", "child_rights_regional", "ombudsman_regional"}

_FIRST: tuple[str, ...] = (
    "Aruzhan",
    "Dana",
    "Aigerim",
    "Madina",
    "Amina",
    "Zarina",
    "Aisha",
    "Kamila",
)
_FIRST += ("Nursultan", "Alikhan", "Timur", "Daniyar", "Arman", "Yerlan", "Askar", "Bauyrzhan")
_LAST: tuple[str, ...] = (
    "Seitkali",
    "Karimova",
    "Nurlanova",
    "Abenova",
    "Tulegenova",
    "Omarova",
    "Sadykova",
)
_LAST += ("Zhakupova", "Ismailova", "Bekova", "Akhmetova", "Kassymova", "Yesenova", "Mukanova")
_MIDDLE = ("Bolatkyzy", "Serikkyzy", "Nurlankyzy", "Askarkyzy", "Yerlankyzy", "Maratkyzy")


@dataclass
class Fault:
    """One fault injected: when (seconds from the first report), what, and on which part."""

    at: float
    kind: str
    target: str
    down_for: float


@dataclass
class ChaosResult:
    """The figures of one chaos run."""

    reports: int
    rate: float
    sent_in: float = 0.0
    answers: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    caught_up_after: float | None = None
    allowed: float = 30.0
    missing_cases: list[str] = field(default_factory=list)
    missing_obligations: list[str] = field(default_factory=list)
    duplicate_obligations: int = 0
    duplicate_referrals: int = 0
    dlq_messages: int = 0
    lagging: dict[str, dict[str, int]] = field(default_factory=dict)
    # What was waiting when the load and the faults had ended, and when (after the last fault):
    # the clients' retries of 503s (up to their 30 s budget each) outlast the faults.
    lagging_at_end: dict[str, dict[str, int]] = field(default_factory=dict)
    unsent_at_end: dict[str, int] = field(default_factory=dict)
    end_after_last_fault: float = 0.0
    # Caught up this long after the last report's answer (the load's end).
    caught_up_after_load: float | None = None
    unsent_outbox: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    # Each instance's /health at the end: NATS, database, unsent outbox rows.
    health: dict[str, Any] = field(default_factory=dict)
    machine: str = ""
    elapsed: float = 0.0

    @property
    def accepted(self) -> int:
        """Return how many reports were answered 201."""
        return self.answers.get("201", 0)

    def problems(self) -> list[str]:
        """Return what the run found lost, duplicated or late (empty: nothing)."""
        found = []
        if self.missing_cases:
            found.append(f"{len(self.missing_cases)} accepted reports without a case")
        if self.missing_obligations:
            found.append(f"{len(self.missing_obligations)} cases without their R1 obligations")
        if self.duplicate_obligations:
            found.append(f"{self.duplicate_obligations} obligations twice")
        if self.duplicate_referrals:
            found.append(f"{self.duplicate_referrals} referrals twice")
        if self.dlq_messages:
            found.append(f"{self.dlq_messages} messages in the DLQ")
        if self.caught_up_after is None or self.caught_up_after > self.allowed:
            found.append(
                f"consumers not caught up within {self.allowed:.0f}s of the last fault: "
                f"{self.lagging} unsent outbox {self.unsent_outbox}"
            )
        return found


def _iin(birth: date, female: bool, serial: int) -> str:
    # Century-and-sex digit: 5 a boy born 2000-2099, 6 a girl (the IIN's 7th digit).
    while True:
        first = f"{birth:%y%m%d}{6 if female else 5}{serial % 10000:04d}"
        digit = check_digit(first)
        if digit is not None:
            return f"{first}{digit}"
        serial += 1


def report_body(index: int, now: datetime) -> dict[str, Any]:
    """A school's report about a child of its own: a distinct child for every index."""
    rng = random.Random(index)
    female = index % 2 == 0
    birth = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 6 * 365))
    name = (
        f"{_FIRST[index % len(_FIRST)]} "
        f"{_MIDDLE[(index // len(_FIRST)) % len(_MIDDLE)]} "
        f"{_LAST[(index // (len(_FIRST) * len(_MIDDLE))) % len(_LAST)]}"
    )
    return {
        "reporter": {"agency_type": "education_org", "agency_id": REPORTER, "region": "KZ-75"},
        "channel": "duties",
        "received_at": (now - timedelta(minutes=5)).isoformat(),
        "subject": {
            "kind": "minor",
            "full_name": name,
            "birth_date": birth.isoformat(),
            "iin": _iin(birth, female, index),
            "sex": "female" if female else "male",
        },
        "concerns": ["violence"],
        "signs": ["injuries"],
    }


class ChaosRun:
    """One run: the cluster, the load, the faults and the checks."""

    def __init__(self, cluster: Cluster, *, reports: int, rate: float, seed: int = 1) -> None:
        self.cluster = cluster
        self.reports = reports
        self.rate = rate
        self.rng = random.Random(seed)
        self.token = (cluster.var / "tokens" / f"{REPORTER}.caseworker.jwt").read_text().strip()
        self.result = ChaosResult(reports=reports, rate=rate, machine=_machine())
        self.cases: list[str] = []
        self.t0 = 0.0
        self.last_fault_end = 0.0
        # Instances a fault holds down; the supervisor restarts any other that exits (one that
        # started while PostgreSQL was down cannot migrate and exits, as under systemd).
        self.held: set[str] = set()
        self.supervising = False

    # -- load --------------------------------------------------------------------------------

    async def _send(self, client: httpx.AsyncClient, index: int, answers: Counter[str]) -> None:
        intakes = self.cluster.of("intake")
        body = report_body(index, datetime.now(UTC))
        headers = {"Authorization": f"Bearer {self.token}"}
        deadline = time.monotonic() + SEND_BUDGET
        attempt = 0
        # Round robin. A refused connection (the instance is down) goes to the next instance at
        # once: nothing was sent. A 503 (the database away) is tried again after Retry-After,
        # as an integrator does; should the first attempt have been recorded after all, the
        # second joins the same child's case (same IIN) rather than opening another.
        while time.monotonic() < deadline:
            instance = intakes[(index + attempt) % len(intakes)]
            attempt += 1
            try:
                answer = await client.post(f"{instance.url}/v1/reports", json=body, headers=headers)
            except httpx.ConnectError:
                await asyncio.sleep(0.2 if attempt % len(intakes) == 0 else 0)
                continue
            except httpx.HTTPError as error:
                answers[type(error).__name__] += 1
                return
            if answer.status_code == 503:
                answers["503 retried"] += 1
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            answers[str(answer.status_code)] += 1
            if answer.status_code == 201:
                self.cases.append(answer.json()["case_id"])
            return
        answers["gave up"] += 1

    async def load(self) -> None:
        """Send every report on its own schedule (open loop), each within SEND_BUDGET."""
        answers: Counter[str] = Counter()
        # One attempt may take the whole budget: an answer that comes late (an instance busy
        # catching up after its database came back) still counts, as it would for a client.
        timeout, limits = httpx.Timeout(SEND_BUDGET), httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as c:
            tasks = []
            for index in range(self.reports):
                delay = self.t0 + index / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self._send(c, index, answers)))
            self.result.sent_in = time.monotonic() - self.t0
            await asyncio.gather(*tasks)
        self.result.answers = dict(answers)

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, kind: str, down_for: float) -> Fault:
        at = time.monotonic() - self.t0
        if kind == "instance":
            instance: Instance = self.rng.choice(self.cluster.instances)
            self.held.add(instance.name)
            instance.kill()
            time.sleep(down_for)
            instance.start()
            self.held.discard(instance.name)
            return Fault(at, kind, instance.name, down_for)
        if kind == "nats_leader":
            stream = self.rng.choice(LEADER_STREAMS)
            leader = asyncio.run(stream_leader(self.cluster.url(), stream))
            assert self.cluster.nats is not None
            node = leader or self.rng.choice(self.cluster.nats.names)
            self.cluster.nats.kill(node)
            time.sleep(down_for)
            self.cluster.nats.restart(node)
            return Fault(at, kind, f"{node} (leader of {stream})", down_for)
        assert self.cluster.postgres is not None, "the run crashes a PostgreSQL of its own"
        self.cluster.postgres.crash()
        time.sleep(down_for)
        self.cluster.postgres.start()
        return Fault(at, kind, "postgres", down_for)

    def faults(self, count: int, every: float, down_for: float) -> None:
        """Inject `count` faults, one kind after the other, one every `every` seconds."""
        for number in range(count):
            wait = self.t0 + 1.0 + number * every - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            kind = FAULT_KINDS[number % len(FAULT_KINDS)]
            self.result.faults.append(self._fault(kind, down_for))
            self.last_fault_end = time.monotonic()

    def supervise(self) -> None:
        """Start again every instance that exited and is not held down, until told to stop."""
        while self.supervising:
            for instance in self.cluster.instances:
                if instance.name not in self.held and not instance.running:
                    instance.start()
            time.sleep(1.0)

    # -- checks ------------------------------------------------------------------------------

    async def lag(self) -> dict[str, dict[str, int]]:
        """Return every consumer that has messages pending or awaiting an ack."""
        lagging: dict[str, dict[str, int]] = {}
        nc = await nats.connect(**connect_options(self.cluster.url()), connect_timeout=3)
        try:
            js = nc.jetstream(timeout=5)
            for spec in STREAMS:
                for info in await js.consumers_info(spec.name):
                    if info.num_pending or info.num_ack_pending:
                        lagging[f"{spec.name}/{info.name}"] = {
                            "pending": int(info.num_pending or 0),
                            "ack_pending": int(info.num_ack_pending or 0),
                        }
            self.result.dlq_messages = int((await js.stream_info("DLQ")).state.messages)
        finally:
            await nc.close()
        return lagging

    def unsent(self) -> dict[str, int]:
        """Return the outbox rows not yet published, per service with any."""
        found = {}
        for service, url in self.cluster.database_urls.items():
            with psycopg.connect(url, connect_timeout=3) as connection:
                row = connection.execute(
                    "select count(*) from outbox where sent_at is null"
                ).fetchone()
            if row and row[0]:
                found[service] = int(row[0])
        return found

    def wait_caught_up(self, limit: float) -> None:
        """Wait until nothing is pending anywhere twice in a row; note how long it took."""
        settled = 0
        while time.monotonic() - self.last_fault_end < limit:
            started = time.monotonic()
            try:
                self.result.lagging = asyncio.run(self.lag())
                self.result.unsent_outbox = self.unsent()
            except Exception as error:
                self.result.lagging = {"unreachable": {type(error).__name__: 1}}
            if not self.result.end_after_last_fault:
                self.result.end_after_last_fault = started - self.last_fault_end
                self.result.lagging_at_end = dict(self.result.lagging)
                self.result.unsent_at_end = dict(self.result.unsent_outbox)
            if not self.result.lagging and not self.result.unsent_outbox:
                settled += 1
                if settled == 2:
                    self.result.caught_up_after = time.monotonic() - self.last_fault_end
                    self.result.caught_up_after_load = (
                        self.result.caught_up_after - self.result.end_after_last_fault
                    )
                    return
            else:
                settled = 0
            time.sleep(0.5)

    def check_cases(self) -> None:
        """Every accepted report has its case (intake) and its three R1 obligations."""
        intake = self.cluster.database_urls["intake"]
        with psycopg.connect(intake) as connection:
            known = {row[0] for row in connection.execute("select case_id from intake_cases")}
        self.result.missing_cases = sorted(set(self.cases) - known)
        deadlines = self.cluster.of("deadlines")
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=10) as client:
            for number, case_id in enumerate(sorted(set(self.cases))):
                instance = deadlines[number % len(deadlines)]
                url = f"{instance.url}/v1/cases/{case_id}/obligations"
                answer = client.get(url, headers=headers)
                rows = answer.json().get("obligations", []) if answer.status_code == 200 else []
                targets = [row["target_agency_type"] for row in rows if row["code"] == "R1"]
                # A set: a report retried after a 503 may have joined the case a second time,
                # with obligations of its own (started later); doubles are counted below.
                if set(targets) != R1_TARGETS:
                    self.result.missing_obligations.append(case_id)

    def check_duplicates(self) -> None:
        """No obligation and no referral recorded twice for one case."""
        self.result.duplicate_obligations = _doubles(
            self.cluster.database_urls["deadlines"],
            "deadlines_obligations",
            "case_id, code, actor_agency_id, target_agency_type, target_agency_id, started_at",
        )
        self.result.duplicate_referrals = _doubles(
            self.cluster.database_urls["routing"],
            "routing_referrals",
            "case_id, report_id, code, to_agency_id, purpose, replaces_referral_id",
        )

    def run(
        self,
        *,
        faults: int,
        every: float,
        down_for: float,
        allowed: float,
        settle: float = 90.0,
    ) -> ChaosResult:
        """Send the load while injecting the faults, wait for catch-up, then check."""
        started = time.monotonic()
        self.result.allowed = allowed
        self.t0 = time.monotonic() + 0.5
        self.last_fault_end = self.t0

        async def both() -> None:
            await asyncio.gather(
                self.load(), asyncio.to_thread(self.faults, faults, every, down_for)
            )

        self.supervising = True
        supervisor = threading.Thread(target=self.supervise, daemon=True)
        supervisor.start()
        try:
            asyncio.run(both())
            # Wait up to `settle` (longer than allowed), so that a late catch-up is measured
            # and the checks see the end state rather than work still in flight.
            self.wait_caught_up(limit=max(allowed, settle))
            self.check_cases()
            self.check_duplicates()
        finally:
            self.supervising = False
            supervisor.join()
        for instance in self.cluster.instances:
            try:
                self.result.health[instance.name] = httpx.get(
                    f"{instance.url}/health", timeout=5
                ).json()
            except (httpx.HTTPError, ValueError) as error:
                self.result.health[instance.name] = type(error).__name__
        self.result.restarts = {
            found.name: found.starts - 1 for found in self.cluster.instances if found.starts > 1
        }
        self.result.elapsed = time.monotonic() - started
        return self.result


def _doubles(url: str, table: str, columns: str) -> int:
    """Count the groups of rows of a table that agree on every one of the columns."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            f"select count(*) from (select 1 from {table} group by {columns} "  # noqa: S608
            "having count(*) > 1) twice"
        ).fetchone()
    return int(row[0]) if row else 0


def _machine() -> str:
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.1f} GiB"
    except (ValueError, OSError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores{memory}"


def chaos(
    *,
    reports: int,
    rate: float,
    faults: int,
    every: float,
    down_for: float = 2.0,
    allowed: float = 30.0,
    settle: float = 90.0,
    folder: Path | None = None,
    seed: int = 1,
) -> ChaosResult:
    """Start a cluster under `folder` (a temporary one by default), run, stop it."""
    own = folder is None
    root = Path(tempfile.mkdtemp(prefix="qorgau-chaos-")) if folder is None else folder
    cluster = Cluster(root / "var").start()
    try:
        return ChaosRun(cluster, reports=reports, rate=rate, seed=seed).run(
            faults=faults, every=every, down_for=down_for, allowed=allowed, settle=settle
        )
    finally:
        cluster.stop()
        if own:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run the chaos test from the command line and print its figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="reports per second")
    parser.add_argument("--faults", type=int, default=12, help="faults injected in turn")
    parser.add_argument("--every", type=float, default=4.0, help="seconds between faults")
    parser.add_argument("--down-for", type=float, default=2.0, help="seconds a part stays down")
    parser.add_argument("--allowed", type=float, default=30.0, help="catch-up allowed (s)")
    parser.add_argument(
        "--settle", type=float, default=900.0, help="longest wait for catch-up, measured (s)"
    )
    parser.add_argument(
        "--keep", dest="folder", type=Path, default=None, help="keep the run's data here"
    )
    parser.add_argument("--seed", type=int, default=1)
    # The options are chaos()'s keyword arguments, by name.
    result = chaos(**vars(parser.parse_args(argv)))
    print(json.dumps({**asdict(result), "problems": result.problems()}, indent=1))
    return 1 if result.problems() else 0


if __name__ == "__main__":
    raise SystemExit(main())
