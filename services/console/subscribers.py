"""The console's bus bindings: none. It reads and acts through the services' HTTP APIs only."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

# The console neither publishes nor delivers: every action goes through the owning service.
PUBLISHES: tuple[Any, ...] = ()
DELIVERS: tuple[Any, ...] = ()


def register(broker: NatsBroker, deps: Any) -> None:
    """Bind nothing: the console talks HTTP to intake, routing and deadlines."""
    del broker, deps
