"""Load shedding on a real nats-server: past the bound a report waits, and nothing is stored.

Intake runs in process with its lifespan (the broker, the relay and the backlog reading), on
SQLite, against a nats-server of the test's own. Deadlines' consumer of routing's obligations
(on a report's path) is given a backlog no service drains; the test drains it by hand, as
deadlines would, and kills the server to show an unknown backlog refuses nothing.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import text

from services.intake import app as intake_app
from services.intake.config import IntakeSettings
from shared.auth import TokenKeys
from shared.clock import FixedClock
from shared.contracts.obligations import ObligationOpened
from shared.natsserver import NatsServer
from shared.runtime import ServiceRuntime
from tests.bus_helpers import connected
from tests.integration.test_intake_access import NOW, body
from tests.waiting import wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WATCHED = "deadlines-routing-events"
SUBJECT = ObligationOpened.subject("routing")
BOUND, RESUME = 5, 2
# What a report leaves behind in intake's database when it is accepted.
TABLES = ("intake_cases", "intake_reports", "outbox", "audit_log")


@dataclass
class Intake:
    """Intake in process, running as a service does (NATS, relay, background backlog reading)."""

    client: TestClient
    runtime: ServiceRuntime
    keys: TokenKeys

    def report(self) -> Any:
        token = self.keys.issue(
            agency_id="school-17",
            agency_type="education_org",
            region="KZ-75",
            role="caseworker",
            subject="person-of-school-17",
            now=NOW,
        )
        return self.client.post(
            "/v1/reports", json=body(), headers={"Authorization": f"Bearer {token}"}
        )

    def health(self) -> dict[str, Any]:
        return dict(self.client.get("/health").json())

    def rows(self) -> dict[str, int]:
        with self.runtime.engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in TABLES
            }


@pytest.fixture
def intake(nats_restartable: NatsServer, tmp_path: Path) -> Iterator[Intake]:
    settings = IntakeSettings(
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
        nats_url=nats_restartable.url,
        token_key_file=tmp_path / "keys" / "token.key",
        shed_backlog=BOUND,
        shed_resume_backlog=RESUME,
    )
    runtime, app = intake_app.build(settings, clock=FixedClock(NOW))
    keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
    # Entered, the client runs the app's lifespan: the broker connects, the backlog is read.
    with TestClient(app) as client:
        yield Intake(client, runtime, keys)


async def _give_backlog(url: str, count: int) -> None:
    # Deadlines' consumer, as deadlines declares it, and obligations routing opened.
    async with connected(url) as (_, js):
        await js.add_consumer(
            "ROUTING",
            ConsumerConfig(
                name=WATCHED,
                durable_name=WATCHED,
                filter_subject=SUBJECT,
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
        for _ in range(count):
            await js.publish(SUBJECT, b"{}", headers={"Nats-Msg-Id": str(uuid.uuid4())})


async def _drain(url: str, count: int) -> None:
    # What deadlines does with them: take them and ack each.
    async with connected(url) as (_, js):
        reader = await js.pull_subscribe_bind(durable=WATCHED, stream="ROUTING")
        done = 0
        while done < count:
            for message in await reader.fetch(count - done, timeout=5):
                await message.ack_sync()
                done += 1


async def _stream_messages(url: str, stream: str) -> int:
    async with connected(url) as (_, js):
        return int((await js.stream_info(stream)).state.messages)


def _watched(health: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in health["load_shedding"]["watched"] if c["durable"] == WATCHED)


def _shedding(health: dict[str, Any]) -> bool:
    return bool(health["load_shedding"]["status"] == "shedding")


def test_over_the_bound_a_report_waits_and_nothing_is_stored(
    intake: Intake, nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    # Intake's own consumers, read in the background, in its health.
    health = wait_for(intake.health, lambda h: h["backlog"]["status"] == "known")
    own = {c["durable"]: c for c in health["backlog"]["consumers"]}
    assert "intake-routing-referral-issued" in own
    assert {(c["state"], c["num_pending"], c["num_ack_pending"]) for c in own.values()} == {
        ("ok", 0, 0)
    }
    assert health["load_shedding"]["status"] == "accepting"

    asyncio.run(_give_backlog(url, 8))
    health = wait_for(intake.health, _shedding)
    shedding = health["load_shedding"]
    assert (shedding["backlog"], shedding["bound"], shedding["resume_below"]) == (8, BOUND, RESUME)
    assert _watched(health) == {
        "stream": "ROUTING",
        "durable": WATCHED,
        "state": "ok",
        "num_pending": 8,
        "num_ack_pending": 0,
    }

    before, published = intake.rows(), asyncio.run(_stream_messages(url, "INTAKE"))
    refused = intake.report()
    assert refused.status_code == 503, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "shedding load" in refused.json()["detail"]
    # Nothing changed: no case, no report, no outbox row, no audit entry, no event.
    assert intake.rows() == before
    assert asyncio.run(_stream_messages(url, "INTAKE")) == published

    # Drained to below the resume level, reports are taken again.
    asyncio.run(_drain(url, 8))
    health = wait_for(intake.health, lambda h: h["load_shedding"]["status"] == "accepting")
    assert _watched(health)["num_pending"] == 0
    accepted = intake.report()
    assert accepted.status_code == 201, accepted.text
    wait_for(intake.health, lambda h: h["outbox_pending"] == 0)
    assert asyncio.run(_stream_messages(url, "INTAKE")) == published + 1


def test_an_unknown_backlog_refuses_nothing(intake: Intake, nats_restartable: NatsServer) -> None:
    asyncio.run(_give_backlog(nats_restartable.url, 8))
    wait_for(intake.health, _shedding)
    assert intake.report().status_code == 503

    # NATS away: intake takes reports into its outbox, as it always has, and says it cannot
    # tell its backlog.
    nats_restartable.kill()
    health = wait_for(
        intake.health,
        lambda h: h["load_shedding"]["status"] == "unknown" and h["backlog"]["status"] == "unknown",
    )
    assert health["load_shedding"]["backlog"] is None
    accepted = intake.report()
    assert accepted.status_code == 201, accepted.text
    assert intake.health()["outbox_pending"] >= 1

    # Back, the backlog is still there (the server kept it): shedding again, and the report
    # taken during the outage is published all the same.
    nats_restartable.start()
    health = wait_for(intake.health, _shedding, timeout=30)
    assert _watched(health)["num_pending"] == 8
    wait_for(intake.health, lambda h: h["outbox_pending"] == 0, timeout=30)
