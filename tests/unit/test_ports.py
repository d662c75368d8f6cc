"""Ports for started processes lie below the range outgoing connections take theirs from."""

from __future__ import annotations

import socket
from pathlib import Path

from qorgau.ports import free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        port = free_port()
        assert 1024 <= port < low
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
