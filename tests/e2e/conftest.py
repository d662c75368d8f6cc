"""The platform as real processes: `qorgau up` on free ports with a temporary var directory.

Every intake call carries a token: `platform.auth(agency_id, role)` gives the headers with a
development token `qorgau up` wrote (var/tokens/). For tests that only need a report in, the
`http` client adds the reporter's token to a `POST /v1/reports` that carries none.
`platform.nats_url(user)` connects to the platform's NATS as one of its users.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from qorgau.ports import free_port
from qorgau.registry import SERVICE_NAMES
from shared import natsauth
from shared.auth import TokenKeys
from shared.clock import SystemClock
from tests.waiting import wait_for


@dataclass
class Platform:
    """A running platform: where its services answer and where its data lives."""

    var_dir: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    output: Path
    nats_port: int = 0

    def url(self, service: str) -> str:
        """Return a service's base URL."""
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, agency_id: str, role: str = "caseworker") -> str:
        """Return a development token `qorgau up` wrote (role operator/integrator: theirs)."""
        name = f"{role}.jwt" if role in ("operator", "integrator") else f"{agency_id}.{role}.jwt"
        return (self.var_dir / "tokens" / name).read_text().strip()

    def auth(self, agency_id: str, role: str = "caseworker") -> dict[str, str]:
        """Return the Authorization header of a person of an agency."""
        return {"Authorization": f"Bearer {self.token(agency_id, role)}"}

    def issue(self, *, agency_id: str, agency_type: str, region: str | None) -> str:
        """Sign a caseworker token with the platform's key (an agency without a dev token)."""
        keys = TokenKeys.loads((self.var_dir / "keys" / "token.key").read_text())
        return keys.issue(
            agency_id=agency_id,
            agency_type=agency_type,
            region=region,
            role="caseworker",
            subject=f"test-{agency_id}",
            now=SystemClock().now(),
        )

    def nats_url(self, user: str = natsauth.OPERATOR) -> str:
        """Return the URL of the platform's NATS as one of its users."""
        passwords = json.loads((self.var_dir / "keys" / "nats-users.json").read_text())
        url = f"nats://127.0.0.1:{self.nats_port}"
        return natsauth.credentials_url(url, user, passwords[user])


# Platforms by intake port, so the `http` client can find whose token to add.
_RUNNING: dict[int, Platform] = {}


def health(url: str) -> dict[str, Any]:
    """Return a service's /health report (whatever its status code), or {} if it is not up."""
    try:
        return dict(httpx.get(f"{url}/health", timeout=1).json())
    except (httpx.HTTPError, ValueError):
        return {}


def wait_until_connected(
    platform: Platform, services: tuple[str, ...] = (), timeout: float = 30.0
) -> None:
    """Wait until each service (default: all) reports NATS connected and its database ok."""
    for url in [platform.url(service) for service in services or tuple(platform.ports)]:
        wait_for(partial(health, url), lambda report: report.get("status") == "ok", timeout=timeout)


def start_platform(var_dir: Path, services: tuple[str, ...] = ()) -> Platform:
    """Run `qorgau up`, wait until it says every service is healthy and each reports NATS up."""
    ports = {s: free_port() for s in SERVICE_NAMES}
    nats_port = free_port()
    env = {
        **os.environ,
        "QORGAU_VAR_DIR": str(var_dir),
        "QORGAU_NATS_PORT": str(nats_port),
        **{f"{s.upper()}_HTTP_PORT": str(p) for s, p in ports.items()},
    }
    env.pop("NATS_URL", None)
    env.pop("QORGAU_TOKEN_KEY_FILE", None)
    var_dir.mkdir(parents=True, exist_ok=True)
    output = var_dir / "up.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "qorgau.cli", "up", *services],
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )
    platform = Platform(var_dir, ports, process, output, nats_port)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"qorgau up exited: {output.read_text()}")
        if "Qorgau is running" in output.read_text():
            if "NOT HEALTHY" in output.read_text():
                stop_platform(platform)
                raise RuntimeError(f"a service is not healthy: {output.read_text()}")
            try:
                wait_until_connected(platform, services)
            except BaseException:
                stop_platform(platform)
                raise
            _RUNNING[ports["intake"]] = platform
            return platform
        time.sleep(0.2)
    stop_platform(platform)
    raise RuntimeError(f"qorgau up did not come up: {output.read_text()}")


def stop_platform(platform: Platform) -> None:
    """Stop `qorgau up` as Ctrl-C does."""
    _RUNNING.pop(platform.ports["intake"], None)
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGINT)
        try:
            platform.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            platform.process.kill()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform, shared by a module's tests."""
    running = start_platform(tmp_path_factory.mktemp("platform") / "var")
    try:
        yield running
    finally:
        stop_platform(running)


def _reporter_token(request: httpx.Request) -> None:
    """Give a tokenless POST /v1/reports the token of the reporter its body names."""
    platform = _RUNNING.get(request.url.port or 0)
    if (
        platform is None
        or request.method != "POST"
        or request.url.path != "/v1/reports"
        or "authorization" in request.headers
    ):
        return
    try:
        reporter: dict[str, Any] = json.loads(request.content)["reporter"]
        agency_type, region = reporter["agency_type"], reporter.get("region")
    except (ValueError, KeyError, TypeError):
        return
    agency_id = reporter.get("agency_id") or f"{str(region).lower()}-{agency_type}".replace(
        "_", "-"
    )
    dev = platform.var_dir / "tokens" / f"{agency_id}.caseworker.jwt"
    try:
        token = (
            dev.read_text().strip()
            if dev.exists()
            else platform.issue(agency_id=agency_id, agency_type=agency_type, region=region)
        )
    except ValueError:
        # An unknown agency type: any valid token, so that intake answers 422 on the body.
        token = platform.issue(agency_id="test-reporter", agency_type="other", region=region)
    request.headers["Authorization"] = f"Bearer {token}"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """An HTTP client for the platform's loopback services (see the module's docstring)."""
    with httpx.Client(timeout=10, event_hooks={"request": [_reporter_token]}) as client:
        yield client
