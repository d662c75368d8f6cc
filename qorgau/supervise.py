"""What `qorgau up` watches: child processes restarted with backoff, and said so.

A child that dies is reaped at once (polling a Popen waits for it, so no zombie is left) and
started again after a delay that doubles with each quick failure (0.5 s up to 30 s) and starts
over once the child has stayed up for a minute. nats-server comes back on the same port and
the same JetStream store, so the services' clients reconnect to the URL they have and the
streams keep every message they held.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.natsserver import NatsServer

FIRST_DELAY = 0.5
MAX_DELAY = 30.0
# Up this long, a child is healthy again: its next failure waits the first delay.
STABLE_AFTER = 60.0


def say(message: str) -> None:
    """Tell the operator watching `qorgau up` (stderr, flushed at once)."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Backoff:
    """When a child that keeps failing may be started again."""

    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    started_at: float = field(default=0.0)
    not_before: float = 0.0

    def started(self) -> None:
        """Note a (re)start now."""
        self.started_at = self.clock()

    def failed(self) -> float:
        """Note a failure now; return the delay before the next start."""
        now = self.clock()
        if self.started_at and now - self.started_at >= STABLE_AFTER:
            self.failures = 0
        delay = min(FIRST_DELAY * 2**self.failures, MAX_DELAY)
        self.failures += 1
        self.not_before = now + delay
        return delay

    def due(self) -> bool:
        """Tell whether the next start may happen now."""
        return self.clock() >= self.not_before


@dataclass
class NatsWatch:
    """Keeps the embedded nats-server running: restart on the same port and store, say so."""

    server: NatsServer
    backoff: Backoff = field(default_factory=Backoff)
    restarts: int = 0
    _down: bool = False

    def __post_init__(self) -> None:
        self.backoff.started()

    def check(self) -> None:
        """Notice a dead nats-server (reaping it) and start it again when the backoff allows."""
        if not self._down:
            if self.server.running:  # polls the process: a dead one is reaped here
                return
            code = self.server.exit_code()
            self.server.kill()  # closes its log and forgets its ports file; holds the port
            delay = self.backoff.failed()
            self._down = True
            say(
                f"nats-server exited with code {code}; restarting it on "
                f"{self.server.host}:{self.server.port} with the same store in {delay:g}s"
            )
        if not self.backoff.due():
            return
        try:
            self.server.start()
        except RuntimeError as error:
            delay = self.backoff.failed()
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            say(f"nats-server did not start ({first}); trying again in {delay:g}s")
            return
        self._down = False
        self.restarts += 1
        self.backoff.started()
        say(
            f"nats-server is back on {self.server.url} "
            f"(pid {self.server.pid}, restart {self.restarts})"
        )
