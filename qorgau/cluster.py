"""The production shape on one machine: a NATS cluster, PostgreSQL, two instances of a service.

`qorgau up --cluster` runs three nats-server nodes clustered on loopback (each with its own
store, fsync on every write, routes to the others), the streams at three replicas, PostgreSQL
with a database and role per service, and two instances of each service, each on its own
HTTP port, sharing the service's pull consumers and its outbox (the relay claims rows with
`FOR UPDATE SKIP LOCKED`). Every service connects to all three nodes and fails over. The chaos
run (bench/chaos.py) builds the same `Cluster` and kills parts of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import nats
from nats.js.errors import BadRequestError

from qorgau.pgserver import PostgresServer, ServiceDatabases
from qorgau.ports import free_port
from qorgau.registry import BUS_SERVICE_NAMES
from shared import natsauth
from shared.natsauth import connect_options
from shared.natsserver import NatsServer, cluster_config
from shared.streams import provision

__all__ = ["Cluster", "Instance", "NatsCluster", "free_port", "run_cluster"]

HOST = "127.0.0.1"
CLUSTER_NAME = "qorgau"
NODES = 3
REPLICAS = 3
INSTANCES = 2
# JetStream's answer while too few nodes are known to place a stream's replicas.
_NO_SUITABLE_PEERS = 10005


class NatsCluster:
    """Three (or more) nats-server nodes with JetStream, routed to each other on loopback."""

    def __init__(
        self,
        folder: Path,
        *,
        size: int = NODES,
        authorization: str = "",
        client_tls: str = "",
        route_tls: str = "",
        domain: str | None = None,
        leafnodes: bool = False,
    ) -> None:
        from shared.leafnode import hub_leafnodes_config

        self.names = [f"n{index + 1}" for index in range(size)]
        route_ports = {name: free_port() for name in self.names}
        # Where agencies' leaf nodes connect to each node, when the cluster is a hub for them.
        self.leaf_ports = {name: free_port() for name in self.names} if leafnodes else {}
        self.nodes: dict[str, NatsServer] = {}
        for name in self.names:
            routes = [f"{HOST}:{route_ports[other]}" for other in self.names if other != name]
            self.nodes[name] = NatsServer(
                store_dir=folder / name / "store",
                config_dir=folder / name,
                port=free_port(),
                log_file=folder / name / "nats-server.log",
                # A restarted node comes back on the URL the services list.
                keep_port=True,
                extra_config=cluster_config(
                    server_name=name,
                    cluster=CLUSTER_NAME,
                    listen=f"{HOST}:{route_ports[name]}",
                    routes=routes,
                    tls=route_tls,
                )
                + client_tls
                + (hub_leafnodes_config(f"{HOST}:{self.leaf_ports[name]}") if leafnodes else ""),
                authorization=authorization,
                domain=domain,
            )

    @property
    def urls(self) -> list[str]:
        """Return the client URL of every node."""
        return [f"nats://{HOST}:{node.port}" for node in self.nodes.values()]

    def url(self, user: natsauth.NatsUser | None = None) -> str:
        """Return NATS_URL for a client: every node, with the user's credentials if any."""
        urls = self.urls
        if user is not None:
            urls = [natsauth.credentials_url(url, user.name, user.password) for url in urls]
        return ",".join(urls)

    def start(self) -> NatsCluster:
        """Start every node."""
        for node in self.nodes.values():
            node.start()
        return self

    def kill(self, name: str) -> None:
        """Kill one node with SIGKILL, as a crash would."""
        self.nodes[name].kill()

    def restart(self, name: str) -> None:
        """Start a stopped node again on its store and port."""
        self.nodes[name].start()

    def reload_authorization(self, authorization: str) -> None:
        """Give every running node new users and permissions without a restart."""
        for node in self.nodes.values():
            node.reload_authorization(authorization)

    def stop(self) -> None:
        """Stop every node and let its port go."""
        for node in self.nodes.values():
            node.stop()
            node.release()


async def wait_jetstream(url: str, timeout: float = 60.0) -> None:
    """Wait until the cluster has elected a meta leader and answers JetStream requests."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            nc = await nats.connect(
                **connect_options(url), connect_timeout=2, allow_reconnect=False
            )
            try:
                await nc.jetstream(timeout=2).account_info()
                return
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def stream_leader(url: str, stream: str) -> str | None:
    """Return the name of the node leading a stream, or None while there is no leader."""
    nc = await nats.connect(**connect_options(url), connect_timeout=2, allow_reconnect=False)
    try:
        info = await nc.jetstream(timeout=5).stream_info(stream)
        return info.cluster.leader if info.cluster else None
    finally:
        await nc.close()


async def provision_replicated(url: str, timeout: float = 60.0) -> list[str]:
    """Provision the streams at three replicas once every node has joined the meta group."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await provision(url, replicas=REPLICAS)
        except BadRequestError as error:
            # "No suitable peers for placement": a node has not reported to the leader yet.
            if error.err_code != _NO_SUITABLE_PEERS or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


@dataclass
class Instance:
    """One process of a service, with its own HTTP port and its own var folder."""

    service: str
    index: int
    port: int
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """Return `<service>-<n>`."""
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        """Return the instance's base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Tell whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process (its output appended to its log)."""
        if self._log is not None:
            self._log.close()
        self._log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    def healthy(self) -> bool:
        """Tell whether the instance reports NATS connected and its database ok."""
        try:
            answer = httpx.get(f"{self.url}/health", timeout=2)
            return answer.status_code == 200 and answer.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            return False

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Wait until the instance is healthy; raise naming its log if it exits or is late."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited; see {self.log_file}")
            if self.healthy():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not healthy in {timeout:.0f}s; see {self.log_file}")

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process gracefully, killing it if it does not exit in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def _var_dir(var: Path) -> Iterator[None]:
    # The command's helpers read the var folder from the environment, as `qorgau up` does.
    saved = {name: os.environ.get(name) for name in ("QORGAU_VAR_DIR", "QORGAU_TOKEN_KEY_FILE")}
    os.environ["QORGAU_VAR_DIR"] = str(var)
    os.environ.pop("QORGAU_TOKEN_KEY_FILE", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Cluster:
    """The platform in its production shape, as local processes under one var folder.

    `postgres`: None starts a server of the cluster's own (which the chaos run may crash);
    otherwise the admin URL of an existing server, where the cluster adds its databases (with
    a name of the run's own) and drops them when it stops.
    """

    def __init__(
        self,
        var: Path,
        *,
        services: Sequence[str] = BUS_SERVICE_NAMES,
        instances: int = INSTANCES,
        postgres: str | None = None,
        nats_auth: bool = True,
    ) -> None:
        self.var = Path(var).resolve()
        self.services = tuple(services)
        self.instances_per_service = instances
        self.external_postgres = postgres
        self.nats_auth = nats_auth
        self.logs = self.var / "logs"
        self.users: dict[str, natsauth.NatsUser] = {}
        self.seed_files: dict[str, Path] = {}
        self.nats: NatsCluster | None = None
        self.postgres: PostgresServer | None = None
        self.databases: ServiceDatabases | None = None
        self.database_urls: dict[str, str] = {}
        self.instances: list[Instance] = []
        self.stream_lines: list[str] = []

    def url(self, user: str | None = natsauth.ADMIN) -> str:
        """Return NATS_URL (all nodes) as one of the platform's users (admin by default)."""
        assert self.nats is not None
        return self.nats.url(self.users.get(user) if user else None)

    def of(self, service: str) -> list[Instance]:
        """Return the instances of a service."""
        return [found for found in self.instances if found.service == service]

    def start(self) -> Cluster:
        """Start NATS, the streams, PostgreSQL, the databases and every instance."""
        from qorgau.cli import nats_users, write_dev_tokens
        from qorgau.production import seed_files
        from shared.auth import TokenKeys

        self.logs.mkdir(parents=True, exist_ok=True)
        token_key = self.var / "keys" / "token.key"
        with _var_dir(self.var):
            keys = TokenKeys.load_or_create(token_key)
            write_dev_tokens(keys, self.var / "tokens")
            if self.nats_auth:
                self.users = {user.name: user for user in nats_users()}
                self.seed_files = seed_files(self.users)
        authorization = (
            natsauth.authorization_config(list(self.users.values())) if self.users else ""
        )
        try:
            self.nats = NatsCluster(self.var / "nats", authorization=authorization).start()
            asyncio.run(wait_jetstream(self.url()))
            self.stream_lines = asyncio.run(provision_replicated(self.url()))
            self._start_postgres()
            self._start_instances(token_key)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_postgres(self) -> None:
        admin = self.external_postgres
        prefix = "qorgau_"
        if admin is None:
            self.postgres = PostgresServer(port=free_port()).start()
            admin = self.postgres.admin_url
        else:
            # A shared server: names of the run's own, dropped at the end.
            prefix = f"qorgau_c{uuid.uuid4().hex[:8]}_"
        self.databases = ServiceDatabases(admin, prefix=prefix)
        self.database_urls = self.databases.create(self.services)

    def _start_instances(self, token_key: Path) -> None:
        for service in self.services:
            for index in range(1, self.instances_per_service + 1):
                port = free_port()
                name = f"{service}-{index}"
                env = {
                    **os.environ,
                    "QORGAU_VAR_DIR": str(self.var / "instances" / name),
                    # A loopback harness (bench, chaos): development unless told otherwise.
                    "QORGAU_ENV": os.environ.get("QORGAU_ENV", "development"),
                    "QORGAU_TOKEN_KEY_FILE": str(token_key),
                    # Both instances encrypt and decrypt with the service's one key ring.
                    "QORGAU_DATA_KEY_FILE": str(self.var / "keys" / f"{service}.keys"),
                    # The service's NKey seed from a file, as a secret store mounts it.
                    "NATS_URL": self.url(None),
                    **(
                        {"NATS_NKEY_SEED_FILE": str(self.seed_files[service])}
                        if service in self.seed_files
                        else {}
                    ),
                    f"{service.upper()}_HTTP_PORT": str(port),
                    f"{service.upper()}_DATABASE_URL": self.database_urls[service],
                }
                intake = next(
                    (found for found in self.instances if found.service == "intake"), None
                )
                if service in ("shelter", "familycentre") and intake is not None:
                    # Both report to intake over HTTP (docs/shelter.md, docs/familycentre.md).
                    env[f"{service.upper()}_INTAKE_URL"] = f"http://{HOST}:{intake.port}"
                self.instances.append(
                    Instance(service, index, port, env, self.logs / f"{name}.log")
                )
        # The first instance of a service migrates its database before the second starts.
        for index in range(1, self.instances_per_service + 1):
            batch = [found for found in self.instances if found.index == index]
            for instance in batch:
                instance.start()
            for instance in batch:
                instance.wait_healthy()

    def supervise(self) -> list[Instance]:
        """Start again every instance that exited; return those restarted."""
        restarted = [found for found in self.instances if not found.running]
        for instance in restarted:
            instance.start()
        return restarted

    def stop(self) -> None:
        """Stop every instance, then PostgreSQL's databases or server, then NATS."""
        for instance in self.instances:
            with contextlib.suppress(Exception):
                instance.stop()
        if self.databases is not None and self.postgres is None:
            with contextlib.suppress(Exception):
                self.databases.drop(self.services)
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.remove()
        if self.nats is not None:
            self.nats.stop()


def run_cluster(var: Path, services: Sequence[str], postgres: str | None) -> int:
    """Run the cluster until Ctrl-C, restarting any instance that exits (`qorgau up --cluster`)."""
    # A SIGTERM ends it as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cluster = Cluster(var, services=services, postgres=postgres)
    try:
        cluster.start()
        assert cluster.nats is not None
        print("\nQorgau is running (cluster):")
        for name, node in cluster.nats.nodes.items():
            print(f"  nats {name:<12} nats://{HOST}:{node.port:<7} pid {node.pid}")
        for line in cluster.stream_lines:
            print(f"  streams: {line} ({REPLICAS} replicas)")
        where = cluster.postgres.admin_url if cluster.postgres else postgres
        print(f"  postgres        {where} (a database and role per service)")
        for instance in cluster.instances:
            pid = instance.process.pid if instance.process else "-"
            print(f"  {instance.name:<15} {instance.url:<28} pid {pid}")
        print(f"\ndata under {var}; logs under {cluster.logs}; Ctrl-C stops everything.")
        sys.stdout.flush()
        while True:
            time.sleep(0.5)
            for instance in cluster.supervise():
                print(f"{instance.name} exited; restarted", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("Qorgau stopped.")
    return 0
