"""TLS with certificates from files, made by `qorgau certs`: NATS clients, NATS routes, PostgreSQL.

Real servers on loopback: a client that does not trust the project's CA is refused, and so is
one that does not speak TLS; the services' own connection code (the broker, the database
engine) connects over TLS given the CA file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
from sqlalchemy import text

from qorgau.certs import CertFiles
from qorgau.cli import main
from qorgau.cluster import NatsCluster, free_port, provision_replicated, wait_jetstream
from qorgau.pgserver import PostgresServer, find_pg_bin
from shared import natsauth
from shared.bus import make_broker
from shared.db import make_engine
from shared.natsserver import NatsServer, tls_block
from shared.streams import provision


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    folder = tmp_path_factory.mktemp("certs")
    assert main(["certs", "--dir", str(folder)]) == 0
    files = CertFiles(folder)
    assert files.server_key.stat().st_mode & 0o077 == 0
    return files


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """Another CA: what a client trusting the wrong authority has."""
    folder = tmp_path_factory.mktemp("stranger")
    assert main(["certs", "--dir", str(folder)]) == 0
    return CertFiles(folder)


def _tls(certs: CertFiles, *, verify: bool = False) -> str:
    return tls_block(
        cert_file=certs.server_cert, key_file=certs.server_key, ca_file=certs.ca, verify=verify
    )


@pytest.fixture
def nats_tls(tmp_path: Path, certs: CertFiles) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    """A nats-server taking TLS clients only, with the platform's NKey users; URLs by user."""
    names = (natsauth.ADMIN, natsauth.INTEGRATOR, natsauth.OPERATOR, "intake")
    seeds = {name: natsauth.new_seed() for name in names}
    users = natsauth.build_users(agency_ids=[], services={"intake": []}, passwords=seeds)
    server = NatsServer(
        store_dir=tmp_path / "nats",
        extra_config=_tls(certs),
        authorization=natsauth.authorization_config(users),
    ).start()
    try:
        urls = {name: natsauth.credentials_url(server.url, name, seeds[name]) for name in names}
        yield server, urls
    finally:
        server.stop()


async def test_nats_clients_need_the_ca_and_tls(
    nats_tls: tuple[NatsServer, dict[str, str]], certs: CertFiles, stranger: CertFiles
) -> None:
    url = nats_tls[1][natsauth.ADMIN]
    options = natsauth.connect_options(url, ca_file=certs.ca)
    nc = await nats.connect(**options, allow_reconnect=False)
    try:
        assert (await nc.jetstream().account_info()) is not None
    finally:
        await nc.close()
    # Trusting another CA (or only the system's): the server's certificate is not believed.
    for wrong in (natsauth.connect_options(url, ca_file=stranger.ca),):
        with pytest.raises(Exception):  # noqa: B017 - an ssl error, worded by version
            await nats.connect(**wrong, allow_reconnect=False, max_reconnect_attempts=0)
    plain = natsauth.connect_options(url)
    plain.pop("tls", None)
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(**plain, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_service_broker_connects_over_tls(
    nats_tls: tuple[NatsServer, dict[str, str]], certs: CertFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = nats_tls[1]
    # As a container is given it: the CA file by its variable.
    monkeypatch.setenv("NATS_TLS_CA_FILE", str(certs.ca))
    await provision(urls[natsauth.ADMIN])
    broker = make_broker(urls["intake"], service="intake")
    await broker.start()
    try:
        ack = await broker.publish(
            {"n": 1},
            "qorgau.intake.tls_probe.v1",
            stream="INTAKE",
            headers={"Nats-Msg-Id": "tls-probe-1"},
            timeout=5,
        )
        assert ack.stream == "INTAKE" and ack.seq >= 1
    finally:
        await broker.stop()


def test_nats_routes_between_nodes_over_tls(
    tmp_path: Path, certs: CertFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NATS_TLS_CA_FILE", str(certs.ca))
    cluster = NatsCluster(
        tmp_path / "cluster", client_tls=_tls(certs), route_tls=_tls(certs, verify=True)
    ).start()
    try:
        url = ",".join(cluster.urls)
        asyncio.run(wait_jetstream(url))
        # Three replicas are placed only once every node has joined over its TLS routes.
        lines = asyncio.run(provision_replicated(url, timeout=60))
        assert any("created" in line for line in lines)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def postgres_tls(certs: CertFiles) -> Iterator[PostgresServer]:
    try:
        find_pg_bin()
    except FileNotFoundError:
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer(port=free_port(), tls=(certs.server_cert, certs.server_key)).start()
    try:
        yield server
    finally:
        server.remove()


def test_postgres_takes_tls_connections_only(
    postgres_tls: PostgresServer, certs: CertFiles, stranger: CertFiles
) -> None:
    base = f"postgresql://postgres@127.0.0.1:{postgres_tls.port}/postgres"
    verified = f"{base}?sslmode=verify-full&sslrootcert={certs.ca}"
    with psycopg.connect(verified) as connection:
        row = connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"{base}?sslmode=disable").close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"{base}?sslmode=verify-full&sslrootcert={stranger.ca}").close()
    # The services' engine, given the same URL (their <SERVICE>_DATABASE_URL).
    engine = make_engine(verified.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
