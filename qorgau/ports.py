"""Free loopback ports for the processes the platform's tooling starts (clusters, test platforms).

A port the kernel hands out for bind(0) lies in the ephemeral range, the same range it takes
the local ports of outgoing connections from: between the moment a port is found free and the
moment a service binds it, a NATS or database connection of another process can take it, and
the service cannot start. Ports below the ephemeral range are never handed out that way.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000


def _below_ephemeral() -> range:
    """Return the ports below the kernel's ephemeral range (where outgoing connections go)."""
    try:
        low = int(_RANGE_FILE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(_LOWEST, low) if low - _LOWEST >= 1000 else range(1024, low)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on loopback that nothing holds now, outside the ephemeral range."""
    candidates = _below_ephemeral()
    for _ in range(200):
        port = random.choice(candidates)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # a crowded range: the kernel's choice is still free now
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
