"""An agency's consumer with a deliver subject of another party's: what it can and cannot do.

The deliver subject of a push consumer travels in the request's body, where the permissions
cannot see it (docs/production.md, section 5). This pins down what the server does today with
the platform's users, on a real nats-server: a subject of the agency's own stream is refused
as a cycle, and a subject another stream captures receives nothing (a stream is no
subscriber's interest): an agency cannot inject its deliveries into another stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from shared import natsauth
from shared.natsserver import NatsServer
from shared.streams import provision

POLICE, SHELTER = "kz-75-police", "kz-75-shelter"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    names = (natsauth.ADMIN, natsauth.INTEGRATOR, natsauth.OPERATOR, "routing", POLICE, SHELTER)
    seeds = {name: natsauth.new_seed() for name in names}
    users = natsauth.build_users(
        agency_ids=[POLICE, SHELTER], services={"routing": []}, passwords=seeds
    )
    server = NatsServer(
        store_dir=tmp_path / "hub", authorization=natsauth.authorization_config(users)
    ).start()
    try:
        yield server, seeds
    finally:
        server.stop()


async def test_a_push_consumer_cannot_deliver_into_another_stream_or_agency(
    hub: tuple[NatsServer, dict[str, str]],
) -> None:
    server, seeds = hub

    def url(user: str) -> str:
        return natsauth.credentials_url(server.url, user, seeds[user])

    await provision(url(natsauth.ADMIN))
    routing = await nats.connect(**natsauth.connect_options(url("routing")))
    await routing.jetstream().publish(
        f"qorgau.agency.{POLICE}.referral_issued.v1", b"{}", headers={"Nats-Msg-Id": "r-1"}
    )
    await routing.close()
    police = await nats.connect(**natsauth.connect_options(url(POLICE)))
    admin = await nats.connect(**natsauth.connect_options(url(natsauth.ADMIN)))
    answers = {}
    try:
        create = f"$JS.API.CONSUMER.CREATE.AGENCY.{POLICE}.qorgau.agency.{POLICE}.>"
        for deliver in (
            "qorgau.routing.referral_acknowledged.v1",
            f"qorgau.agency.{SHELTER}.referral_issued.v1",
        ):
            config = {
                "name": POLICE,
                "durable_name": POLICE,
                "filter_subject": f"qorgau.agency.{POLICE}.>",
                "deliver_subject": deliver,
                "ack_policy": "none",
                "deliver_policy": "all",
            }
            body = json.dumps({"stream_name": "AGENCY", "config": config}).encode()
            reply = await police.request(create, body, timeout=5)
            answers[deliver] = json.loads(reply.data)
            await asyncio.sleep(1.5)
            await police.request(f"$JS.API.CONSUMER.DELETE.AGENCY.{POLICE}", b"", timeout=5)
        js = admin.jetstream()
        # Another stream's subject: nothing arrives there.
        assert (await js.stream_info("ROUTING")).state.messages == 0
        # Another agency's subject in the agency's own stream: refused as a cycle.
        refused = answers[f"qorgau.agency.{SHELTER}.referral_issued.v1"]
        assert refused["error"]["err_code"] == 10081
        assert (await js.stream_info("AGENCY")).state.messages == 1
    finally:
        await police.close()
        await admin.close()
