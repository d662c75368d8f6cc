"""The bus against a real nats-server: provisioning, dedup, retries, dead letters, crashes."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import NatsBroker
from nats.js.api import ConsumerConfig, DiscardPolicy, RetentionPolicy, StorageType
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.bus import RetryPolicy, durable_subscriber, make_broker
from shared.natsserver import NatsServer
from shared.streams import DUPLICATE_WINDOW, RETIRED_CONSUMERS, STREAMS, provision, stream_for
from tests.bus_helpers import connected, read_stream
from tests.waiting import eventually

FAST = RetryPolicy(delays=(0.2, 0.2), ack_wait=5.0)
# What a handler's exception may carry; it must reach no header, log line or alert.
PERSONAL = "Aigerim Nurlanovna, IIN 900101300123"


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running(broker: NatsBroker) -> AsyncIterator[NatsBroker]:
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


def test_stream_for_maps_subjects_to_streams() -> None:
    assert stream_for("qorgau.intake.report_received.v1") == "INTAKE"
    assert stream_for("qorgau.agency.police-kz-75.referral_issued.v1") == "AGENCY"
    assert stream_for("qorgau.agency.police-kz-75.>") == "AGENCY"
    assert stream_for("qorgau.dlq.intake.report_received.v1") == "DLQ"
    for bad in ("qorgau.unknown.thing.v1", "other.intake.x.v1", "qorgau.intake", "qorgau.*.x"):
        with pytest.raises(ValueError):
            stream_for(bad)


async def test_provisioning_is_idempotent_and_configures_every_stream(nats_url: str) -> None:
    again = await provision(nats_url)
    assert again == [f"{spec.name}: unchanged" for spec in STREAMS]

    async with connected(nats_url) as (_, js):
        for spec in STREAMS:
            config = (await js.stream_info(spec.name)).config
            assert config.subjects == list(spec.subjects)
            assert config.storage == StorageType.FILE
            assert config.retention == RetentionPolicy.LIMITS
            assert config.discard == DiscardPolicy.OLD
            assert config.duplicate_window == DUPLICATE_WINDOW == 24 * 3600
            assert not config.max_age
            assert config.deny_delete is config.deny_purge is (spec.name != "DLQ")

        # A stream drifted from its specification is put back, and the report says so.
        drifted = (await js.stream_info("ROUTING")).config
        drifted.description = "changed by hand"
        await js.update_stream(drifted)
        assert "ROUTING: updated (description)" in await provision(nats_url)
        assert (await js.stream_info("ROUTING")).config.description == STREAMS[1].description


async def test_provisioning_removes_the_consumers_no_service_declares_any_more(
    nats_url: str,
) -> None:
    stream, durable = "ROUTING", "deadlines-timeline-routing"
    assert (stream, durable) in RETIRED_CONSUMERS
    async with connected(nats_url) as (_, js):
        await js.add_consumer(stream, ConsumerConfig(durable_name=durable))

        report = await provision(nats_url)

        assert f"ROUTING: consumer {durable} retired" in report
        with pytest.raises(NotFoundError):
            await js.consumer_info(stream, durable)
        # Gone once: provisioning again finds nothing to remove.
        assert not [line for line in await provision(nats_url) if "retired" in line]


async def test_same_msg_id_is_stored_once(nats_url: str) -> None:
    subject = f"qorgau.intake.{unique('dedup')}.v1"
    headers = {"Nats-Msg-Id": str(uuid.uuid4())}
    async with connected(nats_url) as (_, js):
        first = await js.publish(subject, b'{"n": 1}', headers=headers)
        second = await js.publish(subject, b'{"n": 1}', headers=headers)

        assert not first.duplicate
        assert second.duplicate
        assert second.seq == first.seq
        assert len(await read_stream(nats_url, "INTAKE", subject=subject)) == 1


async def test_failed_message_is_redelivered_after_a_delay_then_handled_once(
    nats_url: str,
) -> None:
    subject = f"qorgau.casework.{unique('flaky')}.v1"
    purpose = unique("flaky")
    broker = make_broker(nats_url, service="casework", tracer_provider=TracerProvider())
    attempts: list[float] = []
    handled: list[dict[str, Any]] = []

    @durable_subscriber(broker, subject, service="casework", purpose=purpose, retry=FAST)
    async def handle(body: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise RuntimeError("not yet")
        handled.append(body)

    async with running(broker):
        ack = await broker.publish(
            {"event_id": "e-1"}, subject, stream="CASEWORK", headers={"Nats-Msg-Id": "e-1"}
        )
        await eventually(lambda: handled, "the third delivery to succeed")

        async with connected(nats_url) as (_, js):
            durable = f"casework-{purpose}"

            async def settled() -> bool:
                info = await js.consumer_info("CASEWORK", durable)
                return info.ack_floor.stream_seq == ack.seq and not info.num_ack_pending

            await eventually(settled, "the ack to reach the server")
            info = await js.consumer_info("CASEWORK", durable)
            assert info.num_pending == 0
            assert info.config.max_deliver == FAST.max_deliver
            assert info.config.ack_wait == FAST.ack_wait
            # Acked, the message is delivered no more: three deliveries in all, none to come.
            assert info.delivered.consumer_seq == 3
            dlq_subject = f"qorgau.dlq.casework.{subject.split('.')[2]}.v1"
            assert await read_stream(nats_url, "DLQ", subject=dlq_subject) == []

    assert handled == [{"event_id": "e-1"}]
    assert len(attempts) == 3
    # Each redelivery waited for the nak delay instead of coming back at once.
    assert attempts[1] - attempts[0] >= 0.15
    assert attempts[2] - attempts[1] >= 0.15


async def test_message_that_keeps_failing_is_dead_lettered_with_an_alert(
    nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    event = unique("doomed")
    subject = f"qorgau.casework.{event}.v1"
    purpose = unique("doomed")
    durable = f"casework-{purpose}"
    msg_id = str(uuid.uuid4())
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    broker = make_broker(nats_url, service="casework", tracer_provider=tracer_provider)
    attempts: list[float] = []

    @durable_subscriber(broker, subject, service="casework", purpose=purpose, retry=FAST)
    async def handle(body: dict[str, Any]) -> None:
        attempts.append(time.monotonic())
        raise ValueError(PERSONAL)

    async with running(broker), connected(nats_url) as (_, js):
        ack = await broker.publish(
            {"event_id": msg_id},
            subject,
            stream="CASEWORK",
            headers={"Nats-Msg-Id": msg_id, "correlation_id": "corr-1"},
        )
        dlq_subject = f"qorgau.dlq.casework.{event}.v1"
        dead = await eventually(
            lambda: read_stream(nats_url, "DLQ", subject=dlq_subject), "the dead letter"
        )
        alerts = await eventually(
            lambda: _alerts_for(nats_url, durable), "the message_dead_lettered alert"
        )

        async def settled() -> bool:
            info = await js.consumer_info("CASEWORK", durable)
            return info.ack_floor.stream_seq == ack.seq and not info.num_ack_pending

        await eventually(settled, "the original to be acked")
        info = await js.consumer_info("CASEWORK", durable)
        assert info.num_pending == 0
        assert info.num_ack_pending == 0
        assert info.delivered.stream_seq == ack.seq
        # Acked after the last attempt, the message is delivered no more.
        assert info.delivered.consumer_seq == FAST.attempts

    assert len(attempts) == FAST.attempts == 3

    (letter,) = dead
    assert json.loads(letter.data) == {"event_id": msg_id}
    headers = letter.headers or {}
    assert headers["Qorgau-Original-Subject"] == subject
    assert headers["Qorgau-Consumer"] == durable
    assert headers["Qorgau-Error"] == "ValueError"
    assert headers["Qorgau-Deliveries"] == "3"
    assert headers["Nats-Msg-Id"] == f"{msg_id}:dlq:{durable}"
    assert headers["correlation_id"] == "corr-1"

    (alert,) = alerts
    body = json.loads(alert.data)
    assert alert.headers["Nats-Msg-Id"] == body["event_id"]
    assert uuid.UUID(body["event_id"])
    assert body["occurred_at"].endswith("+00:00")
    assert {k: body[k] for k in ("service", "consumer", "original_subject", "error_type")} == {
        "service": "casework",
        "consumer": durable,
        "original_subject": subject,
        "error_type": "ValueError",
    }
    assert body["deliveries"] == 3

    # One trace from the original publish through every attempt to the dead letter and alert;
    # the process spans name the error class.
    finished = spans.get_finished_spans()
    assert len({span.context.trace_id for span in finished}) == 1
    names = {span.name for span in finished}
    assert {f"{subject} process", f"{dlq_subject} publish"} <= names
    assert "qorgau.casework.message_dead_lettered.v1 publish" in names
    processed = [span for span in finished if span.name == f"{subject} process"]
    assert [span.attributes["error.type"] for span in processed] == ["ValueError"] * 3

    everything = caplog.text + json.dumps(headers) + json.dumps(body)
    everything += json.dumps([span.to_json() for span in finished])
    assert "Aigerim" not in everything
    assert "900101300123" not in everything
    warnings = [r for r in caplog.records if r.name == "shared.bus" and r.levelname == "WARNING"]
    errors = [r for r in caplog.records if r.name == "shared.bus" and r.levelname == "ERROR"]
    assert len(warnings) == 2
    assert all(durable in r.getMessage() and "ValueError" in r.getMessage() for r in warnings)
    assert len(errors) == 1
    assert "dead-lettered" in errors[0].getMessage()


async def _alerts_for(nats_url: str, consumer: str) -> list[Any]:
    subject = "qorgau.casework.message_dead_lettered.v1"
    messages = await read_stream(nats_url, "CASEWORK", subject=subject)
    return [m for m in messages if json.loads(m.data)["consumer"] == consumer]


async def test_acknowledged_message_survives_a_crash(nats_restartable: NatsServer) -> None:
    subject = "qorgau.intake.report_received.v1"
    async with connected(nats_restartable.url) as (_, js):
        ack = await js.publish(subject, b'{"event_id": "crash-1"}', headers={"Nats-Msg-Id": "c1"})
    assert ack.stream == "INTAKE"

    nats_restartable.kill()  # SIGKILL: no shutdown, no flush
    nats_restartable.start()

    (message,) = await read_stream(nats_restartable.url, "INTAKE", subject=subject)
    async with connected(nats_restartable.url) as (_, js):
        assert message.data == b'{"event_id": "crash-1"}'
        assert message.metadata.sequence.stream == ack.seq
        # The restarted server still knows the id: a republished copy is a duplicate.
        again = await js.publish(subject, b'{"event_id": "crash-1"}', headers={"Nats-Msg-Id": "c1"})
        assert again.duplicate


def test_a_restarted_server_comes_back_on_its_port_which_nobody_takes_meanwhile(
    nats_restartable: NatsServer,
) -> None:
    url = nats_restartable.url
    port = int(url.rsplit(":", 1)[1])
    nats_restartable.kill()
    # While it is down, the port is not handed out: a bind to it is refused.
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port))
    nats_restartable.start()
    assert nats_restartable.url == url


def test_a_restart_on_a_port_another_process_took_fails_naming_it(
    nats_restartable: NatsServer,
) -> None:
    port = int(nats_restartable.url.rsplit(":", 1)[1])
    nats_restartable.stop()
    nats_restartable.release()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}: another process holds"):
            nats_restartable.start(timeout=1)


def test_server_fsyncs_every_write(nats_server: NatsServer, tmp_path: Path) -> None:
    assert "sync_interval: always" in nats_server.config_file.read_text()

    # And the server really runs that way, as its monitoring endpoint reports.
    with NatsServer(store_dir=tmp_path, monitor_port=-1) as server:
        assert server.monitor_url is not None
        assert server.monitor_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.monitor_url}/varz", timeout=5) as answer:
            varz = json.load(answer)
    assert varz["jetstream"]["config"]["sync_always"] is True
