"""Intake keeps taking reports while NATS is away; they wait in its outbox and go out, once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import TokenKeys
from shared.natsserver import NatsServer
from tests.bus_helpers import read_payloads
from tests.e2e.conftest import free_port, health
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


async def report_events(nats_url: str, case_id: str) -> list[dict[str, Any]]:
    """The INTAKE stream's report_received events of one case."""
    received = await read_payloads(nats_url, "INTAKE", subject="qorgau.intake.report_received.v1")
    return [payload for _, payload in received if payload["case_id"] == case_id]


def test_reports_wait_in_the_outbox_while_nats_is_down(
    tmp_path: Path, nats_restartable: NatsServer
) -> None:
    nats_url = nats_restartable.url
    # NATS goes away before intake starts, and comes back later on the same port.
    nats_restartable.stop()
    var = tmp_path / "var"
    port = free_port()
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "QORGAU_VAR_DIR": str(var),
        "INTAKE_HTTP_PORT": str(port),
    }
    env.pop("INTAKE_DATABASE_URL", None)
    var.mkdir(parents=True)
    log = (var / "intake.log").open("ab")
    intake = subprocess.Popen(
        [sys.executable, "-m", "services.intake"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        state = wait_for(lambda: health(url), lambda h: h.get("database") == "ok", timeout=60)
        assert state["nats"] == "disconnected"
        # Health says so honestly (not ready), while the API goes on taking reports.
        assert state["status"] == "degraded"
        assert httpx.get(f"{url}/health", timeout=5).status_code == 503
        keys = TokenKeys.loads((var / "keys" / "token.key").read_text())
        token = keys.issue(
            agency_id="kz-75-police",
            agency_type="police",
            region="KZ-75",
            role="caseworker",
            subject="officer-1",
            now=datetime.now(UTC),
        )
        posted = httpx.post(
            f"{url}/v1/reports",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "reporter": {"agency_type": "police", "region": "KZ-75"},
                "channel": "duties",
                "received_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
                "subject": {"kind": "minor", "full_name": "Outage Test"},
                "concerns": ["violence"],
            },
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        case_id = posted.json()["case_id"]
        assert health(url)["outbox_pending"] == 1

        nats_restartable.start()
        wait_for(lambda: health(url), lambda h: h.get("outbox_pending") == 0, timeout=60)
        assert health(url)["nats"] == "connected"
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        events = asyncio.run(report_events(nats_url, case_id))
        assert len(events) == 1
    finally:
        intake.terminate()
        intake.wait(timeout=15)
