"""A PostgreSQL server of the platform's own, and a database and role for each service.

The cluster (`qorgau up --cluster`, the chaos run) starts one with `initdb` and `pg_ctl` on a
free loopback port, so that it can crash it (`pg_ctl stop -m immediate`: no shutdown
checkpoint, recovery on the next start, as after a power cut) and start it again. Or it is
given an existing server's admin URL and only adds (and later drops) its databases there.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["PostgresServer", "ServiceDatabases", "find_pg_bin"]

# Where Debian and Ubuntu install the server binaries (one folder per major version).
_PG_ROOTS = ("/usr/lib/postgresql",)
# The server refuses to run as root: the binaries then run as this system user.
_PG_USER = "postgres"


def find_pg_bin() -> Path:
    """Return the folder of `initdb`, `pg_ctl` and `postgres` (newest version installed)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    for root in _PG_ROOTS:
        versions = sorted(Path(root).glob("*/bin/pg_ctl"), key=lambda path: path.parts[-3])
        if versions:
            return versions[-1].parent
    raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")


class PostgresServer:
    """One PostgreSQL server on a loopback port, with its data in a folder of its own."""

    def __init__(
        self,
        *,
        port: int,
        folder: Path | None = None,
        host: str = "127.0.0.1",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        # tls: (certificate, key) files; the server then takes TLS connections only.
        self.tls = tls
        self.port = port
        self.host = host
        self.bin = find_pg_bin()
        self._as_root = os.geteuid() == 0
        # As root the server runs as `postgres`, which must reach its folder: a folder of its
        # own under the system's temporary directory (test folders are often root-only).
        self._owned_folder = folder is None or self._as_root
        self.folder = (
            Path(tempfile.mkdtemp(prefix="qorgau-pg-")) if self._owned_folder else Path(folder)  # type: ignore[arg-type]
        )
        self.data = self.folder / "data"
        self.log_file = self.folder / "postgres.log"
        if self._as_root:
            shutil.chown(self.folder, user=_PG_USER)

    @property
    def admin_url(self) -> str:
        """Return the URL of the superuser on the maintenance database."""
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", _PG_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            output = done.stderr or done.stdout
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {output}")

    def start(self) -> PostgresServer:
        """Create the cluster on first use, then start the server and wait until it answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            # Trust on loopback only: the server listens on nothing else.
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.folder} "
            # Durable commits, as in production (ARCHITECTURE "The bus").
            "-c fsync=on -c synchronous_commit=on -c max_connections=200"
        )
        if self.tls is not None:
            options += self._tls_options(*self.tls)
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-o", options, "-w",
            "-t", "60", "start",
        )  # fmt: skip
        return self

    def _tls_options(self, cert: Path, key: Path) -> str:
        """Install the certificate and key, refuse connections without TLS; return options."""
        for source, name in ((cert, "server.crt"), (key, "server.key")):
            target = self.data / name
            shutil.copyfile(source, target)
            # PostgreSQL refuses a key others can read, and must own it.
            target.chmod(0o600)
            if self._as_root:
                shutil.chown(target, user=_PG_USER)
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 trust\n"
            "hostssl all all ::1/128 trust\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
            "hostnossl all all ::/0 reject\n",
            encoding="utf-8",
        )
        return (
            " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
            " -c ssl_min_protocol_version=TLSv1.2"
        )

    def crash(self) -> None:
        """Stop the server at once, without a checkpoint: the next start recovers from WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop the server cleanly, if it runs."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server and delete its folder, if the server made it."""
        self.stop()
        if self._owned_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class ServiceDatabases:
    """A database and a login role per service on one server, named `<prefix><service>`."""

    admin_url: str
    prefix: str = "qorgau_"

    def _url(self, name: str, password: str) -> str:
        base = self.admin_url.split("://", 1)[1].split("@", 1)[-1].rsplit("/", 1)[0]
        return f"postgresql://{name}:{password}@{base}/{name}"

    def create(self, services: list[str] | tuple[str, ...]) -> dict[str, str]:
        """Create each service's role and database (owned by the role); return their URLs."""
        urls: dict[str, str] = {}
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            for service in services:
                name = f"{self.prefix}{service}"
                password = secrets.token_urlsafe(18)
                connection.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(name), sql.Literal(password)
                    )
                )
                connection.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(name)
                    )
                )
                urls[service] = self._url(name, password)
        return urls

    def drop(self, services: list[str] | tuple[str, ...]) -> None:
        """Drop each service's database and role."""
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            for service in services:
                name = sql.Identifier(f"{self.prefix}{service}")
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
                connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
