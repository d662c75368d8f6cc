"""`qorgau up` watches its nats-server: killed with SIGKILL, it is reaped, restarted and said so.

The broker comes back on the same port and store; every service reconnects (its /health says
ok again) and a report submitted after the kill reaches deadlines as obligations.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    Platform,
    start_platform,
    stop_platform,
    wait_until_connected,
)
from tests.e2e.test_walking_skeleton import report
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform of this test's own: its broker is killed."""
    running = start_platform(tmp_path / "var")
    try:
        yield running
    finally:
        stop_platform(running)


def nats_pid(platform: Platform) -> int | None:
    """The pid of the running nats-server, from the ports file it writes when it is ready."""
    found = sorted((platform.var_dir / "nats").glob("nats-server_*.ports"))
    return int(found[0].stem.rsplit("_", 1)[1]) if len(found) == 1 else None


def state_of(pid: int) -> str | None:
    """The kernel's state letter of a process (Z: a zombie), None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    return None


def test_a_killed_nats_server_is_restarted_and_the_platform_carries_on(
    platform: Platform,
) -> None:
    first = nats_pid(platform)
    assert first is not None
    os.kill(first, signal.SIGKILL)

    second = wait_for(lambda: nats_pid(platform), lambda pid: pid not in (None, first))
    # Reaped: not left a zombie under `qorgau up`.
    wait_for(lambda: state_of(first), lambda state: state is None, timeout=10)
    back = f"nats-server is back on nats://127.0.0.1:{platform.nats_port} (pid {second}"
    said = wait_for(platform.output.read_text, lambda text: back in text, timeout=20)
    assert "nats-server exited with code -9; restarting it on" in said
    assert platform.process.poll() is None

    # Every service reconnects to the same URL: /health reports NATS connected, status ok.
    wait_until_connected(platform, timeout=60)

    with httpx.Client(timeout=10) as http:
        posted = http.post(
            f"{platform.url('intake')}/v1/reports",
            json=report(),
            headers=platform.auth("school-17"),
        )
        assert posted.status_code == 201, posted.text
        case_id = posted.json()["case_id"]
        url = f"{platform.url('deadlines')}/v1/cases/{case_id}/obligations"

        def obligations() -> list[dict[str, Any]]:
            answer = http.get(url, headers=platform.auth("school-17"))
            return list(answer.json().get("obligations", [])) if answer.is_success else []

        rows = wait_for(obligations, lambda rows: {"R1"} <= {r["code"] for r in rows}, timeout=60)
    assert all(r["case_id"] == case_id for r in rows if "case_id" in r)
