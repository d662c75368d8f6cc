"""Fixtures that run a real nats-server: delivery, acks and deduplication need the real thing.

- `nats_server` (session): one server on a free loopback port with a temporary file store,
  every stream provisioned by `shared.streams.provision`. Tests share it, so they use their own
  consumer names and filter on their own subjects or message ids.
- `nats_url` (session): its URL.
- `nats_restartable` (function): a server of the test's own, on its own temporary store, also
  provisioned, for tests that stop or kill it and start it again (`kill()` then `start()` on the
  same store). It keeps its port: a restart listens on the same URL, and while it is down the
  port stays reserved, so nothing else takes it in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.natsserver import NatsServer
from shared.streams import provision


def _start_provisioned(store_dir: Path, *, keep_port: bool = False) -> NatsServer:
    server = NatsServer(store_dir=store_dir, keep_port=keep_port).start()
    try:
        # The fixtures are synchronous (the server is a process), so the async provisioning
        # runs in a loop of its own.
        asyncio.run(provision(server.url))
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """Run one provisioned nats-server for the whole session."""
    server = _start_provisioned(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer) -> str:
    """Return the URL of the session's nats-server."""
    return nats_server.url


@pytest.fixture
def nats_restartable(tmp_path: Path) -> Iterator[NatsServer]:
    """Run a provisioned nats-server of the test's own, which the test may kill and restart."""
    server = _start_provisioned(tmp_path / "nats", keep_port=True)
    try:
        yield server
    finally:
        server.stop()
        server.release()
