"""A service notices when nats-py closes its connection for good, and only then.

nats-py reconnects without end through a broker's restart, but closes for good on some errors
the server sends; FastStream's subscribers then never fetch again while HTTP keeps answering.
`watch_connection` tells the one from the other, against a real nats-server, and the runtime
stops the process (status 75) for its supervisor to start it afresh.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvicorn

from shared.bus import make_broker
from shared.clock import SystemClock
from shared.natsserver import NatsServer
from shared.runtime import (
    EXIT_NATS_CLOSED,
    ServiceRuntime,
    broker_closed,
    broker_connected,
    watch_connection,
)
from shared.settings import ServiceSettings
from tests.waiting import eventually


async def test_a_broker_restart_is_waited_out_and_a_closed_connection_is_reported(
    nats_restartable: NatsServer,
) -> None:
    broker = make_broker(nats_restartable.url, service="intake")
    await broker.start()
    closed: list[bool] = []
    watching = asyncio.create_task(
        watch_connection(broker, lambda: closed.append(True), interval=0.1)
    )
    try:
        # The server killed and started again: nats-py reconnects, nothing is reported.
        nats_restartable.kill()
        await eventually(lambda: not broker_connected(broker), "the connection lost")
        await asyncio.sleep(1.0)
        assert not closed and not broker_closed(broker)
        nats_restartable.start()
        await eventually(lambda: broker_connected(broker), "the connection back", 30.0)
        assert not closed

        # Closed for good (as nats-py does on some server errors): reported, once.
        connection = getattr(broker, "_connection", None)
        assert connection is not None
        await connection.close()
        await eventually(lambda: closed == [True], "the closed connection reported")
        await asyncio.wait_for(watching, timeout=5)
    finally:
        watching.cancel()


async def test_the_runtime_stops_its_server_with_status_75_when_cut_off_for_good(
    nats_restartable: NatsServer, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        service_name="shelter",
        nats_url=nats_restartable.url,
        database_url=f"sqlite:///{tmp_path / 'shelter.db'}",
        var_dir=tmp_path,
    )
    runtime = ServiceRuntime.build(settings, clock=SystemClock())
    app = runtime.http_app(title="shelter", routers=[])
    server = uvicorn.Server(uvicorn.Config(app))
    runtime._server = server
    async with runtime.lifespan(app):
        await eventually(lambda: broker_connected(runtime.broker), "connected")
        assert not server.should_exit
        connection = getattr(runtime.broker, "_connection", None)
        assert connection is not None
        await connection.close()
        await eventually(lambda: server.should_exit, "the server asked to stop")
    assert runtime.exit_status == EXIT_NATS_CLOSED == 75
