"""An agency's own site as a leaf node: the link to the hub cut while deliveries flow, then back.

Real processes on loopback: a hub nats-server (JetStream domain `hub`, the platform's NKey
users), a leaf nats-server (the shelter's own domain) that dials the hub through a TCP relay
the test can sever (a network outage) with the shelter's NKey, and, on the leaf, a durable
consumer standing in for the shelter's service. Routing keeps delivering on the hub while the
link is down; when it is back every delivery reaches the shelter once, and nothing of another
agency's ever does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, ExternalStream, StreamConfig, StreamSource

from qorgau.cluster import NatsCluster, free_port, provision_replicated, wait_jetstream
from shared import natsauth
from shared.leafnode import (
    LEAF_STREAM,
    hub_leafnodes_config,
    leaf_remote_config,
    provision_leaf,
)
from shared.natsserver import NatsServer
from shared.streams import provision

SHELTER = "kz-75-shelter"
POLICE = "kz-75-police"
DELIVERIES = 45
CUT_AT, RESTORE_AT = 15, 30
# `make chaos` cuts it for a minute (QORGAU_LEAF_CUT_SECONDS=60); `make test` for 8 s.
CUT_SECONDS = float(os.environ.get("QORGAU_LEAF_CUT_SECONDS", "8"))


class Link:
    """A TCP relay between the leaf and the hub's leafnode port, which the test can cut."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hub_reader, hub_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, hub_writer}
        await asyncio.gather(self._pipe(reader, hub_writer), self._pipe(hub_reader, writer))

    async def up(self) -> None:
        """Listen (again) on the relay's port."""
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Sever the link: no new connection, every open one dropped."""
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


@dataclass
class Site:
    hub_urls: list[str]
    leaf: NatsServer
    links: list[Link]
    seeds: dict[str, str]

    def hub_url(self, user: str) -> str:
        return ",".join(
            natsauth.credentials_url(url, user, self.seeds[user]) for url in self.hub_urls
        )

    async def cut(self) -> None:
        for link in self.links:
            await link.cut()

    async def restore(self) -> None:
        for link in self.links:
            await link.up()


# The hub's client URLs, the leaf, the relays between them, every user's seed.
Servers = tuple[list[str], NatsServer, list[Link], dict[str, str]]


@pytest.fixture
def hub_size() -> int:
    return 1


@pytest.fixture
def servers(
    tmp_path: Path, hub_size: int
) -> Iterator[tuple[list[str], NatsServer, list[Link], dict[str, str]]]:
    """A hub of one node or a cluster of three (domain hub), and a leaf dialling it via relays."""
    names = (natsauth.ADMIN, natsauth.INTEGRATOR, natsauth.OPERATOR, "routing", SHELTER, POLICE)
    seeds = {name: natsauth.new_seed() for name in names}
    users = natsauth.build_users(
        agency_ids=[SHELTER, POLICE],
        services={"routing": []},
        passwords=seeds,
        # The shelter's site runs the shelter service: its events go to the hub (a site user).
        site_services={SHELTER: natsauth.SITE_SERVICES["shelter"]},
    )
    authorization = natsauth.authorization_config(users)
    stop: Callable[[], None]
    if hub_size == 1:
        leaf_port = free_port()
        hub = NatsServer(
            store_dir=tmp_path / "hub",
            domain=natsauth.HUB_DOMAIN,
            authorization=authorization,
            extra_config='server_name: "hub-1"\n' + hub_leafnodes_config(f"127.0.0.1:{leaf_port}"),
        ).start()
        hub_urls, leaf_ports, stop = [hub.url], [leaf_port], hub.stop
    else:
        cluster = NatsCluster(
            tmp_path / "hub",
            size=hub_size,
            authorization=authorization,
            domain=natsauth.HUB_DOMAIN,
            leafnodes=True,
        ).start()
        hub_urls, leaf_ports, stop = cluster.urls, list(cluster.leaf_ports.values()), cluster.stop
    links = [Link(port) for port in leaf_ports]
    remotes = [f"nats-leaf://127.0.0.1:{link.port}" for link in links]
    leaf = NatsServer(
        store_dir=tmp_path / "leaf",
        domain="shelter",
        extra_config='server_name: "shelter-1"\n'
        + leaf_remote_config(remotes, seed=seeds[SHELTER]),
    )
    try:
        yield hub_urls, leaf, links, seeds
    finally:
        leaf.stop()
        stop()


@pytest.fixture
async def site(
    servers: Servers,
) -> AsyncIterator[Site]:
    hub_urls, leaf, links, seeds = servers
    found = Site(hub_urls, leaf, links, seeds)
    await found.restore()
    # The leaf starts while the hub is reachable through the relays.
    await asyncio.to_thread(leaf.start)
    admin = found.hub_url(natsauth.ADMIN)
    if len(hub_urls) == 1:
        await provision(admin)
    else:
        await wait_jetstream(admin)
        await provision_replicated(admin)
    try:
        yield found
    finally:
        with contextlib.suppress(Exception):
            await found.cut()


@dataclass
class ShelterService:
    """Stands in for the shelter's service: a durable consumer of the leaf's AGENCY stream."""

    url: str
    received: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        nc = await nats.connect(self.url)
        try:
            js = nc.jetstream()
            await js.add_consumer(
                LEAF_STREAM,
                ConsumerConfig(durable_name="shelter-deliveries", ack_policy=AckPolicy.EXPLICIT),
            )
            sub = await js.pull_subscribe_bind("shelter-deliveries", LEAF_STREAM)
            while True:
                try:
                    messages = await sub.fetch(10, timeout=0.5)
                except nats.errors.TimeoutError:
                    continue
                for message in messages:
                    self.received.append(message.headers["Nats-Msg-Id"])
                    await message.ack()
        finally:
            await nc.close()


async def leaf_count(url: str, stream: str = LEAF_STREAM) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


async def wait_until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("hub_size", [1, 3], ids=["hub-of-one", "hub-of-three"])
async def test_a_leaf_catches_up_after_a_cut_link_once_each(site: Site) -> None:
    print(await provision_leaf(site.leaf.url, SHELTER))
    service = ShelterService(site.leaf.url)
    service.task = asyncio.create_task(service.run())
    routing = await nats.connect(**natsauth.connect_options(site.hub_url("routing")))
    js = routing.jetstream()
    try:
        for n in range(DELIVERIES):
            if n == CUT_AT:
                await wait_until(lambda: _has(service, CUT_AT))
                await site.cut()
            if n == RESTORE_AT:
                # Through the outage the shelter kept what it had and worked on it.
                assert len(service.received) == CUT_AT
                assert await leaf_count(site.leaf.url) == CUT_AT
                await site.restore()
            ids = (f"shelter-{n}", f"police-{n}")
            for agency, msg_id in zip((SHELTER, POLICE), ids, strict=True):
                await js.publish(
                    f"qorgau.agency.{agency}.referral_issued.v1",
                    b"{}",
                    headers={"Nats-Msg-Id": msg_id},
                )
            if n % 5 == 0:
                # A relay that re-sends after a crash: the hub drops the repeat.
                ack = await js.publish(
                    f"qorgau.agency.{SHELTER}.referral_issued.v1",
                    b"{}",
                    headers={"Nats-Msg-Id": ids[0]},
                )
                assert ack.duplicate
            # While the link is down, deliveries keep coming for CUT_SECONDS: long enough for
            # the hub to drop the leaf's source consumer, which the leaf then makes anew from
            # the last sequence it stored.
            cut = CUT_AT <= n < RESTORE_AT
            await asyncio.sleep(CUT_SECONDS / (RESTORE_AT - CUT_AT) if cut else 0.02)
        await wait_until(lambda: _has(service, DELIVERIES), timeout=60 + CUT_SECONDS)
        await asyncio.sleep(1.0)  # anything doubled would arrive by now
        expected = [f"shelter-{n}" for n in range(DELIVERIES)]
        assert sorted(service.received) == sorted(expected)
        assert len(service.received) == len(set(service.received)) == DELIVERIES
        assert await leaf_count(site.leaf.url) == DELIVERIES
    finally:
        service.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await service.task
        await routing.close()


async def _has(service: ShelterService, count: int) -> bool:
    return len(service.received) >= count


async def test_a_leaf_cannot_source_another_agencys_deliveries(site: Site) -> None:
    routing = await nats.connect(**natsauth.connect_options(site.hub_url("routing")))
    try:
        await routing.jetstream().publish(
            f"qorgau.agency.{POLICE}.referral_issued.v1", b"{}", headers={"Nats-Msg-Id": "p-1"}
        )
    finally:
        await routing.close()
    await provision_leaf(site.leaf.url, SHELTER)
    nc = await nats.connect(site.leaf.url)
    try:
        for deliver in (
            natsauth.leaf_deliver_prefix(POLICE),
            natsauth.leaf_deliver_prefix(SHELTER),
        ):
            name = f"STOLEN_{deliver.strip('_')}".replace("-", "_")
            await nc.jetstream().add_stream(
                StreamConfig(
                    name=name,
                    subjects=[],
                    sources=[
                        StreamSource(
                            name="AGENCY",
                            filter_subject=f"qorgau.agency.{POLICE}.>",
                            external=ExternalStream(api="$JS.hub.API", deliver=deliver),
                        )
                    ],
                )
            )
        await asyncio.sleep(3)
        for stream in ("STOLEN_DELIVER_kz_75_police", "STOLEN_DELIVER_kz_75_shelter"):
            assert await leaf_count(site.leaf.url, stream) == 0
    finally:
        await nc.close()


# The shelter service's obligation events published on the site while its link is down.
SITE_EVENTS = 30
SITE_CUT_AT = 10


async def hub_messages(url: str, stream: str) -> list[str]:
    """Return the Nats-Msg-Id of every message the hub's stream holds."""
    nc = await nats.connect(**natsauth.connect_options(url))
    try:
        js = nc.jetstream()
        count = (await js.stream_info(stream)).state.messages
        found = []
        for seq in range(1, count + 1):
            message = await js.get_msg(stream, seq)
            found.append((message.headers or {}).get("Nats-Msg-Id", ""))
        return found
    finally:
        await nc.close()


async def test_the_site_shelter_publishes_through_the_cut_link_each_event_once(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shelter's outbox on the site: events staged while the link is down reach the hub's
    SHELTER stream once when it returns, through the leaf, with the agency's permissions."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from shared.bus import make_broker
    from shared.clock import SystemClock
    from shared.contracts.obligations import ObligationOpened
    from shared.db import make_engine, migrate, unit_of_work
    from shared.outbox import OutboxRelay, pending_count, stage

    engine = make_engine(f"sqlite:///{tmp_path / 'shelter.db'}")
    migrate(engine, "shelter")
    # As deploy/agency-site sets it: the replies crossing the link are the agency's own.
    monkeypatch.setenv("NATS_INBOX_PREFIX", natsauth.inbox_prefix(SHELTER))
    broker = make_broker(site.leaf.url, service="shelter")
    await broker.connect()
    relay = OutboxRelay(engine=engine, publisher=broker, clock=SystemClock(), interval=0.1)
    task = asyncio.create_task(relay.run())
    admin = site.hub_url(natsauth.ADMIN)
    ids: list[str] = []

    def opened() -> None:
        now = datetime.now(UTC)
        event = ObligationOpened(
            occurred_at=now,
            correlation_id=uuid4(),
            producer="shelter",
            obligation_id=uuid4(),
            code="S5",
            legal_basis="Standard 14701 p.25",
            actor_agency_type="shelter",
            actor_agency_id=SHELTER,
            term="1wd",
            started_at=now,
        )
        with unit_of_work(engine) as session:
            stage(session, event, now=now, subject=ObligationOpened.subject("shelter"))
            session.commit()
        ids.append(str(event.event_id))
        relay.wake()

    async def on_hub(count: int) -> bool:
        return len(await hub_messages(admin, "SHELTER")) >= count

    try:
        for n in range(SITE_EVENTS):
            if n == SITE_CUT_AT:
                await wait_until(lambda: on_hub(SITE_CUT_AT))
                await site.cut()
            opened()
            await asyncio.sleep(0.05)
        # While the link is down nothing reaches the hub; the outbox keeps the rest.
        await asyncio.sleep(1.0)
        assert len(await hub_messages(admin, "SHELTER")) == SITE_CUT_AT
        assert pending_count(engine) > 0
        await site.restore()
        await wait_until(lambda: on_hub(SITE_EVENTS), timeout=30)
        await wait_until(lambda: _no_pending(engine, pending_count))
        await asyncio.sleep(1.0)  # anything doubled would arrive by now
        stored = await hub_messages(admin, "SHELTER")
        assert sorted(stored) == sorted(ids) and len(stored) == SITE_EVENTS
        # A re-send from the site (a relay that crashed before marking the row) is dropped.
        ack = await broker.publish(
            {},
            ObligationOpened.subject("shelter"),
            headers={"Nats-Msg-Id": ids[0]},
            stream="SHELTER",
            timeout=5.0,
        )
        assert ack.duplicate
    finally:
        relay.stop()
        await task
        await broker.stop()


async def _no_pending(engine, pending_count) -> bool:  # type: ignore[no-untyped-def]
    return bool(pending_count(engine) == 0)


async def test_a_site_cannot_publish_another_services_events(site: Site) -> None:
    """The shelter's site user publishes the shelter's events, never routing's or casework's."""
    nc = await nats.connect(site.leaf.url, inbox_prefix=natsauth.inbox_prefix(SHELTER).encode())
    try:
        js = nc.jetstream(timeout=2)
        for subject in ("qorgau.routing.obligation_opened.v1", "qorgau.casework.case_opened.v1"):
            with pytest.raises((nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError)):
                await js.publish(subject, b"{}", headers={"Nats-Msg-Id": subject})
    finally:
        await nc.close()
    assert await hub_messages(site.hub_url(natsauth.ADMIN), "ROUTING") == []
