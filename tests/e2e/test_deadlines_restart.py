"""Kill the deadlines process while obligations fall due: every breach is emitted exactly once.

The deadlines service runs as a real process (`python -m services.deadlines`) on its own SQLite
database and a nats-server of the test's own. Half the obligations are overdue when opened, the
other half run out later. The process is killed with SIGKILL at a point the test observes (the
overdue ones breached, the later ones open), started again once the later ones have run out,
and the DEADLINES stream must then hold exactly one obligation_breached (and one
obligation_escalated) per obligation.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import TokenKeys
from shared.contracts.obligations import ObligationOpened
from shared.natsserver import NatsServer
from tests.bus_helpers import publish_events, read_payloads
from tests.e2e.conftest import free_port, health
from tests.integration.test_deadlines_lifecycle import opened
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

COUNT = 40
# When the later terms run out, from when the test opens them: the kill, which comes once the
# overdue ones are breached (about 2 s on a loaded machine), comes well before.
LATER = timedelta(seconds=8)


class Deadlines:
    """The deadlines service as a process that the test starts and kills."""

    def __init__(self, var_dir: Path, nats_url: str) -> None:
        self.port = free_port()
        self.var_dir = var_dir
        self.env = {
            **os.environ,
            "NATS_URL": nats_url,
            "QORGAU_VAR_DIR": str(var_dir),
            "DEADLINES_HTTP_PORT": str(self.port),
            "DEADLINES_POLL_INTERVAL": "0.25",
        }
        for name in ("DEADLINES_DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.var_dir / "deadlines.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.deadlines"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def report() -> dict[str, Any]:
            assert self.process is not None and self.process.poll() is None, self.log()
            return health(self.url)

        wait_for(report, lambda h: h.get("nats") == "connected", timeout=60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log(self) -> str:
        path = self.var_dir / "deadlines.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def obligations(self, case_id: uuid.UUID) -> list[dict[str, Any]]:
        # The service created the deployment's token key on start; an operator reads any case.
        keys = TokenKeys.loads((self.var_dir / "keys" / "token.key").read_text())
        token = keys.issue(
            agency_id="kz-child-rights-national",
            agency_type="child_rights_national",
            region=None,
            role="operator",
            subject="operator-1",
            now=datetime.now(UTC),
        )
        answer = httpx.get(
            f"{self.url}/v1/cases/{case_id}/obligations",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        return list(answer.json()["obligations"])


@pytest.fixture
def deadlines(tmp_path: Path, nats_restartable: NatsServer) -> Iterator[Deadlines]:
    service = Deadlines(tmp_path / "var", nats_restartable.url)
    service.var_dir.mkdir(parents=True)
    try:
        yield service
    finally:
        service.stop()


OPENING_SPAN = "qorgau.routing.obligation_opened.v1 process"


def spans_written(var_dir: Path) -> str:
    """Return the text of the trace files deadlines has written so far."""
    folder = var_dir / "traces"
    files = sorted(folder.glob("*")) if folder.exists() else []
    return "".join(f.read_text(errors="replace") for f in files if f.is_file())


def running_out(case_id: uuid.UUID, due_at: datetime) -> ObligationOpened:
    """A one-hour term, as routing opens it, that runs out at due_at."""
    return opened(case_id=case_id, started_at=due_at - timedelta(hours=1))


def test_each_breach_is_emitted_exactly_once_across_a_kill(
    deadlines: Deadlines, nats_restartable: NatsServer
) -> None:
    deadlines.start()
    case_id = uuid.uuid4()
    now = datetime.now(UTC)
    # Half the terms have run out already and fire at once; the other half run out a while
    # later, 50 ms apart, and only after the kill: those fall due while the process is down.
    overdue = [running_out(case_id, now - timedelta(minutes=1)) for _ in range(COUNT // 2)]
    later = [
        running_out(case_id, now + LATER + timedelta(milliseconds=50 * i))
        for i in range(COUNT - COUNT // 2)
    ]
    last_due = now + LATER + timedelta(milliseconds=50 * len(later))
    ids = {str(e.obligation_id) for e in [*overdue, *later]}
    overdue_ids = {str(e.obligation_id) for e in overdue}
    asyncio.run(publish_events(nats_restartable.url, *overdue, *later, stream="ROUTING"))

    def statuses() -> dict[str, str]:
        rows = deadlines.obligations(case_id)
        return {r["obligation_id"]: r["status"] for r in rows if r["obligation_id"] in ids}

    def breached() -> int:
        return sum(1 for status in statuses().values() if status == "breached")

    # Kill it at a point the rows show: every overdue term breached, no later one breached yet.
    wait_for(
        statuses,
        lambda seen: (
            len(seen) == COUNT
            and all((seen[oid] == "breached") == (oid in overdue_ids) for oid in seen)
        ),
        timeout=LATER.total_seconds(),
        interval=0.05,
    )
    # Spans leave the process every 500 ms (shared.telemetry): a batch of openings is handled
    # within that, and a kill before the export would lose the spans the trace below shows.
    wait_for(lambda: OPENING_SPAN in spans_written(deadlines.var_dir), bool, timeout=3)
    deadlines.kill()
    assert datetime.now(UTC) < now + LATER, "the kill came after the later terms ran out"
    assert deadlines.process is not None and deadlines.process.returncode == -signal.SIGKILL
    assert breached_in_db(deadlines.var_dir, ids) == len(overdue)

    # What falls due while it is down fires at once after the restart.
    wait_for(lambda: datetime.now(UTC), lambda clock: clock > last_due, timeout=60)
    deadlines.start()
    wait_for(breached, lambda n: n == COUNT, timeout=30)

    def relayed() -> list[tuple[str, dict[str, Any]]]:
        return asyncio.run(read_payloads(nats_restartable.url, "DEADLINES"))

    def mine(events: list[tuple[str, dict[str, Any]]], name: str) -> Counter[str]:
        return Counter(
            payload["obligation_id"]
            for subject, payload in events
            if subject == f"qorgau.deadlines.{name}.v1" and payload["obligation_id"] in ids
        )

    stream = wait_for(relayed, lambda got: len(mine(got, "obligation_escalated")) == COUNT)
    wait_for(lambda: health(deadlines.url), lambda h: h.get("outbox_pending") == 0)
    stream = relayed()
    breaches = mine(stream, "obligation_breached")
    assert set(breaches) == ids
    assert set(breaches.values()) == {1}
    escalations = mine(stream, "obligation_escalated")
    assert set(escalations.values()) == {1}
    # Each breach names its due time, and the escalation went to the national body.
    for subject, payload in stream:
        if subject.endswith("obligation_escalated.v1") and payload["obligation_id"] in ids:
            assert payload["supervisor_agency_type"] == "child_rights_national"
    log = deadlines.log()
    assert "poller failed" not in log
    assert "dead-lettered" not in log

    # `qorgau trace` reads the local trace files: each breach is a span naming the row and case.
    deadlines.stop()
    traced = subprocess.run(
        [sys.executable, "-m", "qorgau.cli", "trace", str(case_id)],
        env={**deadlines.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    assert "deadlines.breach R7 [qorgau-deadlines]" in traced.stdout
    assert f"{OPENING_SPAN} [qorgau-deadlines]" in traced.stdout


def breached_in_db(var_dir: Path, ids: set[str]) -> int:
    """How many of the obligations the killed process committed as breached."""
    with sqlite3.connect(var_dir / "deadlines.db") as db:
        rows = db.execute("select obligation_id from deadlines_obligations where status='breached'")
        return sum(1 for (oid,) in rows if oid in ids)
