"""NATS permissions from the directory, on a real nats-server: what each user may do, and not.

Each refusal is checked twice: the client's call fails, and the server reports a permissions
violation for exactly that subject.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from qorgau.settings import DIRECTORY_FILE
from shared import natsauth
from shared.bus import durable_subscriber, make_broker
from shared.natsserver import NatsServer
from shared.streams import provision

SEED_AGENCIES = [a["agency_id"] for a in json.loads(DIRECTORY_FILE.read_text())["agencies"]]
CONSUMERS = {
    "intake": [natsauth.Consumer("ROUTING", "intake-routing-referral-issued")],
    "routing": [natsauth.Consumer("INTAKE", "routing-report-received")],
    "deadlines": [natsauth.Consumer("ROUTING", "deadlines-routing-events")],
}
ANSWERS = ["referral_acknowledged.v1", "referral_declined.v1"]
POLICE = "kz-75-police"
SHELTER = "kz-75-shelter"


class Server:
    """A nats-server running with the generated authorization block."""

    def __init__(self, nats_server: NatsServer, users: dict[str, natsauth.NatsUser]) -> None:
        self.nats = nats_server
        self.users = users

    def url(self, user: str) -> str:
        found = self.users[user]
        return natsauth.credentials_url(self.nats.url, found.name, found.password)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    names = [natsauth.ADMIN, natsauth.INTEGRATOR, natsauth.OPERATOR, *CONSUMERS, *SEED_AGENCIES]
    folder = tmp_path_factory.mktemp("natsauth")
    passwords = natsauth.load_or_create_passwords(folder / "nats-users.json", names)
    users = natsauth.build_users(
        agency_ids=SEED_AGENCIES, services=CONSUMERS, passwords=passwords, agency_answers=ANSWERS
    )
    running = NatsServer(
        store_dir=folder / "store", authorization=natsauth.authorization_config(users)
    ).start()
    found = Server(running, {u.name: u for u in users})
    try:
        asyncio.run(provision(found.url(natsauth.ADMIN)))
        yield found
    finally:
        running.stop()


class Connection:
    """A nats-py connection as one user, collecting the server's complaints."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Client | None = None

    async def open(self, server: Server, user: str) -> Connection:
        async def on_error(error: Exception) -> None:
            self.errors.append(str(error).lower())

        self.nc = await nats.connect(
            **natsauth.connect_options(server.url(user)),
            error_cb=on_error,
            allow_reconnect=False,
        )
        return self

    async def violated(self, subject: str) -> bool:
        """Wait a moment for the server's -ERR about the subject."""
        for _ in range(50):
            if any("permissions violation" in e and subject.lower() in e for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def connect(server: Server) -> AsyncIterator[Any]:
    opened: list[Connection] = []

    async def make(user: str) -> Connection:
        connection = await Connection().open(server, user)
        opened.append(connection)
        return connection

    yield make
    for connection in opened:
        if connection.nc is not None and not connection.nc.is_closed:
            await connection.nc.close()


async def count(server: Server, stream: str) -> int:
    nc = await nats.connect(**natsauth.connect_options(server.url(natsauth.ADMIN)))
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    finally:
        await nc.close()


async def test_nobody_connects_without_the_key(server: Server) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the client names it differently by version
        await nats.connect(server.nats.url, allow_reconnect=False, max_reconnect_attempts=0)
    wrong = natsauth.credentials_url(server.nats.url, POLICE, "guess")
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(wrong, allow_reconnect=False, max_reconnect_attempts=0)
    # Another key than the one the server knows for the agency: its signature proves nothing.
    forged = natsauth.credentials_url(server.nats.url, POLICE, natsauth.new_seed())
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(
            **natsauth.connect_options(forged), allow_reconnect=False, max_reconnect_attempts=0
        )


async def test_a_service_publishes_its_own_subjects_and_consumes_durably(server: Server) -> None:
    routing = make_broker(server.url("routing"), service="routing")
    intake = make_broker(server.url("intake"), service="intake")
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @durable_subscriber(
        intake,
        "qorgau.routing.referral_issued.v1",
        service="intake",
        purpose="routing-referral-issued",
    )
    async def handle(body: dict[str, Any]) -> None:
        await got.put(body)

    await routing.start()
    await intake.start()
    try:
        ack = await routing.publish(
            {"n": 1},
            "qorgau.routing.referral_issued.v1",
            stream="ROUTING",
            headers={"Nats-Msg-Id": "perm-1"},
            timeout=5,
        )
        assert ack.stream == "ROUTING"
        # Routing delivers to agencies.
        delivered = await routing.publish(
            {"n": 2},
            f"qorgau.agency.{POLICE}.referral_issued.v1",
            stream="AGENCY",
            headers={"Nats-Msg-Id": "perm-2"},
            timeout=5,
        )
        assert delivered.stream == "AGENCY"
        assert await asyncio.wait_for(got.get(), 10) == {"n": 1}
    finally:
        await intake.stop()
        await routing.stop()


async def test_a_service_cannot_publish_as_another_service(server: Server, connect: Any) -> None:
    before = await count(server, "ROUTING")
    intake = await connect("intake")
    with pytest.raises(Exception):  # noqa: B017 - the server drops it: no PubAck comes
        await intake.nc.jetstream().publish("qorgau.routing.referral_issued.v1", b"{}", timeout=1)
    assert await intake.violated("qorgau.routing.referral_issued.v1")
    with pytest.raises(Exception):  # noqa: B017
        await intake.nc.jetstream().publish(
            f"qorgau.agency.{POLICE}.referral_issued.v1", b"{}", timeout=1
        )
    assert await count(server, "ROUTING") == before


async def put_delivery(server: Server, agency: str, n: int) -> None:
    nc = await nats.connect(**natsauth.connect_options(server.url("routing")))
    try:
        await nc.jetstream().publish(
            f"qorgau.agency.{agency}.referral_issued.v1",
            json.dumps({"n": n}).encode(),
            headers={"Nats-Msg-Id": f"delivery-{agency}-{n}"},
        )
    finally:
        await nc.close()


async def test_an_agency_reads_its_own_deliveries(server: Server, connect: Any) -> None:
    await put_delivery(server, POLICE, 1)
    police = await connect(POLICE)
    js = police.nc.jetstream()
    sub = await js.pull_subscribe(
        f"qorgau.agency.{POLICE}.>",
        durable=POLICE,
        stream="AGENCY",
        inbox_prefix=f"{natsauth.inbox_prefix(POLICE)}.".encode(),
    )
    messages = await sub.fetch(10, timeout=3)
    assert {m.subject for m in messages} == {f"qorgau.agency.{POLICE}.referral_issued.v1"}
    for message in messages:
        await message.ack()
    # Live deliveries on its own subjects, too.
    live = await police.nc.subscribe(f"qorgau.agency.{POLICE}.>")
    await police.nc.flush()
    assert not await police.violated(f"qorgau.agency.{POLICE}.>")
    await live.unsubscribe()


async def test_an_agency_cannot_read_another_agencys_deliveries(
    server: Server, connect: Any
) -> None:
    await put_delivery(server, SHELTER, 1)
    police = await connect(POLICE)
    # Refused requests get no answer: each waits out this timeout, not the default five seconds.
    js = police.nc.jetstream(timeout=1)
    # Through a consumer of its own name, filtered on the shelter's subjects...
    other = f"qorgau.agency.{SHELTER}.>"
    with pytest.raises(Exception):  # noqa: B017
        await js.add_consumer(
            "AGENCY", ConsumerConfig(name=POLICE, filter_subject=other), timeout=1
        )
    assert await police.violated(f"$JS.API.CONSUMER.CREATE.AGENCY.{POLICE}.{other}")
    # ...through a consumer of another name, through the shelter's own consumer...
    for name in ("police-extra", SHELTER):
        with pytest.raises(Exception):  # noqa: B017
            await js.add_consumer(
                "AGENCY", ConsumerConfig(name=name, filter_subject=other), timeout=1
            )
        assert await police.violated(f"$JS.API.CONSUMER.CREATE.AGENCY.{name}")
    # ...reading the stream directly, or listening on the wire.
    with pytest.raises(Exception):  # noqa: B017
        await js.get_msg("AGENCY", 1)
    await police.nc.subscribe(other)
    assert await police.violated(f'subscription to "{other}"')
    # Everyone's replies and pulled messages arrive on inboxes: not on another's.
    await police.nc.subscribe("_INBOX.>")
    assert await police.violated('subscription to "_inbox.>"')
    await police.nc.subscribe("_INBOX_intake.>")
    assert await police.violated('subscription to "_inbox_intake.>"')


async def test_an_agency_cannot_publish_as_a_service(server: Server, connect: Any) -> None:
    before = {s: await count(server, s) for s in ("INTAKE", "ROUTING", "AGENCY")}
    police = await connect(POLICE)
    js = police.nc.jetstream()
    for subject in (
        "qorgau.intake.report_received.v1",
        "qorgau.routing.referral_issued.v1",
        f"qorgau.agency.{SHELTER}.referral_issued.v1",
        f"qorgau.agency.{POLICE}.referral_issued.v1",
    ):
        with pytest.raises(Exception):  # noqa: B017
            await js.publish(subject, b"{}", timeout=1)
        assert await police.violated(f'publish to "{subject}"')
    assert {s: await count(server, s) for s in before} == before


async def test_an_agency_answers_on_its_own_subjects_only(server: Server, connect: Any) -> None:
    police = await connect(POLICE)
    js = police.nc.jetstream()
    ack = await js.publish(f"qorgau.agency.{POLICE}.referral_acknowledged.v1", b"{}", timeout=5)
    assert ack.stream == "AGENCY"
    # Routing takes the answering agency from the subject: nobody answers for another.
    forged = f"qorgau.agency.{SHELTER}.referral_declined.v1"
    with pytest.raises(Exception):  # noqa: B017
        await js.publish(forged, b"{}", timeout=1)
    assert await police.violated(f'publish to "{forged}"')


async def test_the_integrator_reads_case_streams_only(server: Server, connect: Any) -> None:
    await put_delivery(server, POLICE, 2)
    integrator = await connect(natsauth.INTEGRATOR)
    js = integrator.nc.jetstream()
    await js.add_consumer(
        "ROUTING",
        ConsumerConfig(
            name=natsauth.INTEGRATOR,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=30,
        ),
    )
    sub = await js.pull_subscribe_bind(
        durable=None,
        stream="ROUTING",
        name=natsauth.INTEGRATOR,
        inbox_prefix=f"{natsauth.inbox_prefix(natsauth.INTEGRATOR)}.".encode(),
    )
    assert await sub.fetch(1, timeout=3)
    await js.delete_consumer("ROUTING", natsauth.INTEGRATOR)
    for stream in ("AGENCY", "DLQ"):
        with pytest.raises(Exception):  # noqa: B017
            await js.add_consumer(stream, ConsumerConfig(name=natsauth.INTEGRATOR), timeout=1)
        assert await integrator.violated(f"$JS.API.CONSUMER.CREATE.{stream}.")
    # Nor a service's durable consumer on a case stream: its messages are the service's work.
    stolen = await js.pull_subscribe_bind(
        durable="routing-report-received",
        stream="INTAKE",
        inbox_prefix=f"{natsauth.inbox_prefix(natsauth.INTEGRATOR)}.".encode(),
    )
    with pytest.raises(Exception):  # noqa: B017
        await stolen.fetch(1, timeout=1)
    assert await integrator.violated("$JS.API.CONSUMER.MSG.NEXT.INTAKE.routing-report-received")
    agency_subjects = f"qorgau.agency.{POLICE}.>"
    await integrator.nc.subscribe(agency_subjects)
    assert await integrator.violated(f'subscription to "{agency_subjects}"')
    with pytest.raises(Exception):  # noqa: B017
        await js.publish("qorgau.intake.report_received.v1", b"{}", timeout=1)


async def test_the_operator_reads_every_stream(server: Server, connect: Any) -> None:
    await put_delivery(server, POLICE, 3)
    operator = await connect(natsauth.OPERATOR)
    js = operator.nc.jetstream()
    await js.add_consumer(
        "AGENCY",
        ConsumerConfig(name=natsauth.OPERATOR, ack_policy=AckPolicy.NONE, inactive_threshold=30),
    )
    sub = await js.pull_subscribe_bind(
        durable=None,
        stream="AGENCY",
        name=natsauth.OPERATOR,
        inbox_prefix=f"{natsauth.inbox_prefix(natsauth.OPERATOR)}.".encode(),
    )
    assert await sub.fetch(1, timeout=3)
    await js.delete_consumer("AGENCY", natsauth.OPERATOR)
    with pytest.raises(Exception):  # noqa: B017
        await js.publish("qorgau.dlq.x.y", b"{}", timeout=1)


def test_the_configuration_names_every_directory_agency(tmp_path: Path) -> None:
    passwords = {n: "pw" for n in [*SEED_AGENCIES, *CONSUMERS, "admin", "integrator", "operator"]}
    users = natsauth.build_users(agency_ids=SEED_AGENCIES, services=CONSUMERS, passwords=passwords)
    assert {u.name for u in users} >= set(SEED_AGENCIES)
    police = next(u for u in users if u.name == POLICE)
    # Its inbox, its deliveries, and (for its own site's leaf node) its sourced deliveries and
    # the JetStream API's answers.
    assert police.subscribe == (
        f"_INBOX_{POLICE}.>",
        f"qorgau.agency.{POLICE}.>",
        f"_DELIVER_{POLICE}.>",
        "$JSC.R.*",
    )
    assert not any(s.startswith("qorgau.") for s in police.publish)
    answering = natsauth.agency_user(POLICE, password="pw", answers=ANSWERS)
    assert [s for s in answering.publish if s.startswith("qorgau.")] == [
        f"qorgau.agency.{POLICE}.referral_acknowledged.v1",
        f"qorgau.agency.{POLICE}.referral_declined.v1",
    ]
    with pytest.raises(ValueError):
        natsauth.build_users(
            agency_ids=["operator"], services=CONSUMERS, passwords={**passwords, "operator": "x"}
        )
    # Passwords are made once and kept.
    path = tmp_path / "nats-users.json"
    first = natsauth.load_or_create_passwords(path, ["a", "b"])
    assert natsauth.load_or_create_passwords(path, ["a", "b", "c"])["a"] == first["a"]
    assert path.stat().st_mode & 0o777 == 0o600


async def test_a_service_checkpoints_its_own_audit_log_only(server: Server, connect: Any) -> None:
    intake = await connect("intake")
    js = intake.nc.jetstream()
    ack = await js.publish(
        "qorgau.audit.intake.checkpoint", b"{}", headers={"Nats-Msg-Id": "cp-1"}, timeout=5
    )
    assert ack.stream == "AUDIT"
    # It reads its last checkpoint back after a restart.
    own = await js.get_last_msg("AUDIT", "qorgau.audit.intake.checkpoint")
    assert own.data == b"{}"
    before = await count(server, "AUDIT")
    with pytest.raises(Exception):  # noqa: B017 - the server drops it: no PubAck comes
        await js.publish("qorgau.audit.routing.checkpoint", b"{}", timeout=1)
    assert await intake.violated("qorgau.audit.routing.checkpoint")
    assert await count(server, "AUDIT") == before
    # The operator reads a service's last checkpoint (what `qorgau audit verify` does) ...
    operator = await connect(natsauth.OPERATOR)
    last = await operator.nc.jetstream().get_last_msg("AUDIT", "qorgau.audit.intake.checkpoint")
    assert last.data == b"{}"
    # ... the integrator does not: checkpoints are not case events.
    integrator = await connect(natsauth.INTEGRATOR)
    with pytest.raises(Exception):  # noqa: B017
        await integrator.nc.jetstream(timeout=1).get_last_msg(
            "AUDIT", "qorgau.audit.intake.checkpoint"
        )
    assert await integrator.violated("$JS.API.STREAM.MSG.GET.AUDIT")


async def test_intake_reads_the_report_paths_backlog_and_nothing_else_of_it(
    server: Server, connect: Any
) -> None:
    # Deadlines' consumer of routing's obligations, created by deadlines itself, with work in it.
    watched = "deadlines-routing-events"
    subject = "qorgau.routing.obligation_opened.v1"
    deadlines = await connect("deadlines")
    await deadlines.nc.jetstream().add_consumer(
        "ROUTING",
        ConsumerConfig(
            name=watched,
            durable_name=watched,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    routing = await connect("routing")
    for n in range(3):
        await routing.nc.jetstream().publish(
            subject, b"{}", headers={"Nats-Msg-Id": f"shed-{n}"}, timeout=5
        )
    intake = await connect("intake")
    js = intake.nc.jetstream(timeout=1)
    # What load shedding reads: the pending counts (names and numbers, no message).
    info = await js.consumer_info("ROUTING", watched)
    assert info.num_pending >= 3
    # Not its messages, not its acks, not its existence.
    taken = await js.pull_subscribe_bind(
        durable=watched,
        stream="ROUTING",
        inbox_prefix=f"{natsauth.inbox_prefix('intake')}.".encode(),
    )
    with pytest.raises(Exception):  # noqa: B017
        await taken.fetch(1, timeout=1)
    assert await intake.violated(f"$JS.API.CONSUMER.MSG.NEXT.ROUTING.{watched}")
    with pytest.raises(Exception):  # noqa: B017
        await js.delete_consumer("ROUTING", watched)
    assert await intake.violated(f"$JS.API.CONSUMER.DELETE.ROUTING.{watched}")
    with pytest.raises(Exception):  # noqa: B017
        await js.add_consumer(
            "ROUTING",
            ConsumerConfig(name=watched, durable_name=watched, filter_subject=subject),
            timeout=1,
        )
    assert await intake.violated(f"$JS.API.CONSUMER.CREATE.ROUTING.{watched}")
    # Nor the info of a consumer off the report's path.
    with pytest.raises(Exception):  # noqa: B017
        await js.consumer_info("ROUTING", "casework-obligation-opened")
    assert await intake.violated("$JS.API.CONSUMER.INFO.ROUTING.casework-obligation-opened")
    after = await (await connect("deadlines")).nc.jetstream().consumer_info("ROUTING", watched)
    assert after.num_pending == info.num_pending
    # Routing, which watches nothing, cannot read deadlines' consumer either.
    with pytest.raises(Exception):  # noqa: B017
        await routing.nc.jetstream(timeout=1).consumer_info("ROUTING", watched)
    assert await routing.violated(f"$JS.API.CONSUMER.INFO.ROUTING.{watched}")
