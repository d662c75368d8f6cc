"""The platform as real processes: `qorgau up` on free ports with a temporary var directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    """A running platform: where its services answer and where its data lives."""

    var_dir: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    output: Path

    def url(self, service: str) -> str:
        """Return a service's base URL."""
        return f"http://127.0.0.1:{self.ports[service]}"


def start_platform(var_dir: Path, services: tuple[str, ...] = ()) -> Platform:
    """Run `qorgau up` and wait until it says every service is healthy."""
    ports = {s: free_port() for s in ("intake", "routing", "deadlines")}
    env = {
        **os.environ,
        "QORGAU_VAR_DIR": str(var_dir),
        "QORGAU_NATS_PORT": str(free_port()),
        **{f"{s.upper()}_HTTP_PORT": str(p) for s, p in ports.items()},
    }
    env.pop("NATS_URL", None)
    var_dir.mkdir(parents=True, exist_ok=True)
    output = var_dir / "up.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "up", *services],
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )
    platform = Platform(var_dir, ports, process, output)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"qorgau up exited: {output.read_text()}")
        if "Qorgau is running" in output.read_text():
            if "NOT HEALTHY" in output.read_text():
                stop_platform(platform)
                raise RuntimeError(f"a service is not healthy: {output.read_text()}")
            return platform
        time.sleep(0.2)
    stop_platform(platform)
    raise RuntimeError(f"qorgau up did not come up: {output.read_text()}")


def stop_platform(platform: Platform) -> None:
    """Stop `qorgau up` as Ctrl-C does."""
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


def wait_for(fetch, until, timeout: float = 20.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll fetch() until until(value) holds; return the value or fail with the last one."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not until(value):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached in {timeout}s; last value: {value!r}")
        time.sleep(interval)
        value = fetch()
    return value


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """An HTTP client for the platform's loopback services."""
    with httpx.Client(timeout=10) as client:
        yield client
