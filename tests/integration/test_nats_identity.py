"""One NATS identity for every shape: the configuration production runs, on a real nats-server.

`qorgau nats-config` renders users and permissions from the directory and the service registry,
with public NKeys only; each party holds its seed in a file. The server started with that block
lets an agency read its own deliveries and nothing else, a service publish only its subjects,
nobody in without a key, and a new agency in after a reload signal, with no restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from qorgau import cli
from qorgau.registry import BUS_SERVICE_NAMES
from shared import natsauth
from shared.natsserver import NatsServer
from shared.settings import ServiceSettings
from shared.streams import provision

POLICE = "kz-75-police"
SHELTER = "kz-75-shelter"
NEWCOMER = "kz-75-crisis-centre-2"


def _agency(agency_id: str, agency_type: str) -> dict[str, object]:
    return {"agency_id": agency_id, "agency_type": agency_type, "region": "KZ-75", "active": True}


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A var folder and a two-agency directory, as `qorgau` reads them from the environment."""
    directory = tmp_path / "agencies.json"
    directory.write_text(
        json.dumps({"agencies": [_agency(POLICE, "police"), _agency(SHELTER, "shelter")]})
    )
    monkeypatch.setenv("QORGAU_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("QORGAU_DIRECTORY_FILE", str(directory))
    monkeypatch.delenv("QORGAU_TOKEN_KEY_FILE", raising=False)
    yield directory


def _render(seeds_dir: Path) -> str:
    """Run `qorgau nats-config --out --seeds-dir`, as an operator does for production."""
    out = seeds_dir.parent / "authorization.conf"
    assert cli.main(["nats-config", "--out", str(out), "--seeds-dir", str(seeds_dir)]) == 0
    return out.read_text()


def _url(server: NatsServer, seeds_dir: Path, user: str) -> str:
    seed = natsauth.read_seed_file(seeds_dir / f"{user}.nk")
    return natsauth.credentials_url(server.url, user, seed)


async def _connect(url: str, errors: list[str]) -> nats.NATS:
    async def on_error(error: Exception) -> None:
        errors.append(str(error).lower())

    return await nats.connect(
        **natsauth.connect_options(url), error_cb=on_error, allow_reconnect=False
    )


async def _violated(errors: list[str], subject: str) -> bool:
    for _ in range(50):
        if any("permissions violation" in e and subject.lower() in e for e in errors):
            return True
        await asyncio.sleep(0.02)
    return False


def test_production_identity_on_a_real_server(platform: Path, tmp_path: Path) -> None:
    seeds = tmp_path / "secrets"
    config = _render(seeds)
    # Every registered service has its user without code naming it, every agency too.
    for name in (*BUS_SERVICE_NAMES, POLICE, SHELTER, natsauth.ADMIN, natsauth.OPERATOR):
        assert f"# {name}\n" in config
        assert (seeds / f"{name}.nk").stat().st_mode & 0o077 == 0
    assert "password" not in config
    for seed_file in seeds.iterdir():
        assert seed_file.read_text().strip() not in config

    server = NatsServer(store_dir=tmp_path / "nats", authorization=config).start()
    try:
        asyncio.run(provision(_url(server, seeds, natsauth.ADMIN)))
        asyncio.run(_check_permissions(server, seeds))
        pid = server.pid

        # A new agency joins the directory: a seed of its own, the server reloads, no restart.
        directory = json.loads(platform.read_text())
        directory["agencies"].append(_agency(NEWCOMER, "crisis_centre"))
        platform.write_text(json.dumps(directory))
        server.reload_authorization(_render(seeds))
        asyncio.run(_check_newcomer(server, seeds))
        assert server.pid == pid and server.running
    finally:
        server.stop()


async def _check_permissions(server: NatsServer, seeds: Path) -> None:
    # Nobody gets in without a key the server knows.
    with pytest.raises(Exception):  # noqa: B017 - the client names it differently by version
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0)
    forged = natsauth.credentials_url(server.url, POLICE, natsauth.new_seed())
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(**natsauth.connect_options(forged), allow_reconnect=False)

    # The service that delivers puts one delivery for each agency.
    errors: list[str] = []
    routing = await _connect(_url(server, seeds, "routing"), errors)
    for agency in (POLICE, SHELTER):
        ack = await routing.jetstream().publish(
            f"qorgau.agency.{agency}.referral_issued.v1", b'{"n": 1}', timeout=5
        )
        assert ack.stream == "AGENCY"
    # A service publishes only its own subjects: routing cannot speak for intake.
    with pytest.raises(Exception):  # noqa: B017 - the server drops it: no PubAck comes
        await routing.jetstream().publish("qorgau.intake.report_received.v1", b"{}", timeout=1)
    assert await _violated(errors, "qorgau.intake.report_received.v1")
    await routing.close()

    # The police read their own delivery, and nothing of the shelter's.
    errors = []
    police = await _connect(_url(server, seeds, POLICE), errors)
    js = police.jetstream(timeout=2)
    own = await js.pull_subscribe(
        f"qorgau.agency.{POLICE}.>",
        durable=POLICE,
        stream="AGENCY",
        inbox_prefix=f"{natsauth.inbox_prefix(POLICE)}.".encode(),
    )
    got = await own.fetch(10, timeout=3)
    assert [m.subject for m in got] == [f"qorgau.agency.{POLICE}.referral_issued.v1"]
    other = f"qorgau.agency.{SHELTER}.>"
    with pytest.raises(Exception):  # noqa: B017
        await js.add_consumer("AGENCY", ConsumerConfig(name=POLICE, filter_subject=other))
    await police.subscribe(other)
    assert await _violated(errors, f'subscription to "{other}"')
    await police.close()


async def _check_newcomer(server: NatsServer, seeds: Path) -> None:
    routing = await _connect(_url(server, seeds, "routing"), [])
    await routing.jetstream().publish(
        f"qorgau.agency.{NEWCOMER}.referral_issued.v1", b'{"n": 2}', timeout=5
    )
    await routing.close()
    newcomer = await _connect(_url(server, seeds, NEWCOMER), [])
    sub = await newcomer.jetstream().pull_subscribe(
        f"qorgau.agency.{NEWCOMER}.>",
        durable=NEWCOMER,
        stream="AGENCY",
        inbox_prefix=f"{natsauth.inbox_prefix(NEWCOMER)}.".encode(),
    )
    got = await sub.fetch(1, timeout=3)
    assert [m.subject for m in got] == [f"qorgau.agency.{NEWCOMER}.referral_issued.v1"]
    await newcomer.close()


def test_a_service_connects_with_its_seed_file(tmp_path: Path) -> None:
    seed = natsauth.new_seed()
    path = tmp_path / "intake.nk"
    path.write_text(seed + "\n")
    settings = ServiceSettings(
        service_name="intake", nats_url="nats://a:4222,nats://b:4222", nats_nkey_seed_file=path
    )
    options = natsauth.connect_options(settings.resolved_nats_url())
    # The seed signs the server's nonce; it is in no URL the client sends or logs.
    assert options["servers"] == ["nats://a:4222", "nats://b:4222"]
    assert options["nkeys_seed_str"] == seed
    assert options["inbox_prefix"] == "_INBOX_intake"
    path.write_text("a password\n")
    with pytest.raises(ValueError, match="no user NKey seed"):
        settings.resolved_nats_url()


def test_nats_config_reload_reaches_the_embedded_server(platform: Path, tmp_path: Path) -> None:
    var = tmp_path / "var"
    # As `qorgau up` runs it: its configuration and users under var/nats.
    assert cli.main(["nats-config", "--out", str(tmp_path / "first.conf")]) == 0
    server = NatsServer(
        store_dir=var / "nats" / "store",
        config_dir=var / "nats",
        authorization=(tmp_path / "first.conf").read_text(),
    ).start()
    try:
        pid = server.pid
        directory = json.loads(platform.read_text())
        directory["agencies"].append(_agency(NEWCOMER, "crisis_centre"))
        platform.write_text(json.dumps(directory))
        assert cli.main(["nats-config", "--out", str(tmp_path / "second.conf"), "--reload"]) == 0
        seeds = json.loads((var / "keys" / "nats-users.json").read_text())
        url = natsauth.credentials_url(server.url, NEWCOMER, seeds[NEWCOMER])
        asyncio.run(_eventually_connects(url))
        assert server.running and server.pid == pid  # reloaded, not restarted
    finally:
        server.stop()


async def _eventually_connects(url: str) -> None:
    for _ in range(50):
        try:
            nc = await nats.connect(**natsauth.connect_options(url), allow_reconnect=False)
        except Exception:
            await asyncio.sleep(0.1)
            continue
        await nc.close()
        return
    raise AssertionError("the new agency was never let in")
