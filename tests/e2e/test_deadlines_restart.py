"""Kill the deadlines process while obligations fall due: every breach is emitted exactly once.

The deadlines service runs as a real process (`python -m services.deadlines`) on its own SQLite
database and a nats-server of the test's own. Obligations fall due over several seconds; the
process is killed with SIGKILL once the first breaches fire, started again, and the DEADLINES
stream must then hold exactly one obligation_breached (and one obligation_escalated) per
obligation.
"""

from __future__ import annotations

import asyncio
import json
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
import nats
import pytest

from shared.auth import TokenKeys
from shared.contracts.obligations import ObligationOpened
from shared.natsserver import NatsServer
from tests.e2e.conftest import free_port, wait_for

pytestmark = pytest.mark.e2e

COUNT = 40


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

        def health() -> dict[str, Any]:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                return dict(httpx.get(f"{self.url}/health", timeout=1).json())
            except httpx.HTTPError:
                return {}

        wait_for(health, lambda h: h.get("nats") == "connected", timeout=60)

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


async def publish(nats_url: str, events: list[ObligationOpened]) -> None:
    """Publish as routing does: JetStream, with the event id as Nats-Msg-Id."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(
                event.subject(),
                event.model_dump_json().encode(),
                stream="ROUTING",
                headers={"Nats-Msg-Id": str(event.event_id)},
            )
    finally:
        await nc.close()


async def deadlines_events(nats_url: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message of the DEADLINES stream, as (subject, payload)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("DEADLINES")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("DEADLINES", seq)
            found.append((msg.subject, json.loads(msg.data)))
        return found
    finally:
        await nc.close()


def test_each_breach_is_emitted_exactly_once_across_a_kill(
    deadlines: Deadlines, nats_restartable: NatsServer
) -> None:
    deadlines.start()
    case_id = uuid.uuid4()
    # Terms of one hour that run out one after another, 150 ms apart, from 5 s from now.
    first_due = datetime.now(UTC) + timedelta(seconds=5)
    events = [
        ObligationOpened(
            occurred_at=datetime.now(UTC),
            case_id=case_id,
            correlation_id=uuid.uuid4(),
            producer="routing",
            obligation_id=uuid.uuid4(),
            code="R7",
            legal_basis="Rules 38874, p.12.1",
            actor_agency_type="child_rights_regional",
            actor_agency_id="kz-75-child-rights-regional",
            target_agency_type="child_rights_national",
            term="hours:1",
            started_at=first_due + timedelta(milliseconds=150 * i) - timedelta(hours=1),
            region="KZ-75",
        )
        for i in range(COUNT)
    ]
    ids = {str(e.obligation_id) for e in events}
    asyncio.run(publish(nats_restartable.url, events))
    wait_for(lambda: deadlines.obligations(case_id), lambda rows: len(rows) >= COUNT, timeout=30)

    def breached() -> int:
        rows = deadlines.obligations(case_id)
        return sum(1 for r in rows if r["obligation_id"] in ids and r["status"] == "breached")

    # Kill it as soon as the first breaches have fired, while the rest are still falling due.
    wait_for(breached, lambda n: n >= 1, timeout=30, interval=0.05)
    deadlines.kill()
    assert deadlines.process is not None and deadlines.process.returncode == -signal.SIGKILL
    before_kill = breached_in_db(deadlines.var_dir, ids)
    assert 0 < before_kill < COUNT

    # What fell due while it was down fires at once after the restart.
    deadlines.start()
    wait_for(breached, lambda n: n == COUNT, timeout=30)

    def relayed() -> list[tuple[str, dict[str, Any]]]:
        return asyncio.run(deadlines_events(nats_restartable.url))

    def mine(events: list[tuple[str, dict[str, Any]]], name: str) -> Counter[str]:
        return Counter(
            payload["obligation_id"]
            for subject, payload in events
            if subject == f"qorgau.deadlines.{name}.v1" and payload["obligation_id"] in ids
        )

    stream = wait_for(relayed, lambda got: len(mine(got, "obligation_escalated")) == COUNT)
    wait_for(
        lambda: httpx.get(f"{deadlines.url}/health").json()["outbox_pending"], lambda n: n == 0
    )
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
    assert "qorgau.routing.obligation_opened.v1 process [qorgau-deadlines]" in traced.stdout


def breached_in_db(var_dir: Path, ids: set[str]) -> int:
    """How many of the obligations the killed process committed as breached."""
    with sqlite3.connect(var_dir / "deadlines.db") as db:
        rows = db.execute("select obligation_id from deadlines_obligations where status='breached'")
        return sum(1 for (oid,) in rows if oid in ids)
