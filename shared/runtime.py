"""What every service process runs: database, tracing, broker, outbox relay, HTTP and health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from shared.backlog import BacklogMonitor, Consumer
from shared.bus import make_broker
from shared.clock import Clock
from shared.db import database_ok, make_engine, migrate
from shared.openapi import refusals
from shared.outbox import OutboxRelay, pending_count
from shared.settings import ServiceSettings
from shared.settlements import PendingSettlementColumns, Watch
from shared.telemetry import setup_tracing

log = logging.getLogger(__name__)


class ConsumerHealth(BaseModel):
    """One durable consumer's backlog as JetStream last reported it."""

    stream: str
    durable: str
    state: Literal["ok", "missing", "unknown"]
    num_pending: int | None
    num_ack_pending: int | None


class BacklogHealth(BaseModel):
    """The service's own consumers, read in the background (unknown while NATS is away)."""

    status: Literal["known", "unknown"]
    read_at: str | None
    consumers: list[ConsumerHealth]


class LoadSheddingHealth(BaseModel):
    """Intake only: the backlog on a report's path and whether new reports are refused."""

    status: Literal["accepting", "shedding", "unknown"]
    backlog: int | None
    bound: int
    resume_below: int
    # What one report weighs in the backlog (an outbox row, a report event): the messages it
    # becomes on the path's last consumer.
    per_report: int
    drain_per_second: float | None
    retry_after: int | None
    outbox_pending: int | None
    watched: list[ConsumerHealth]


class PendingSettlementsHealth(BaseModel):
    """Services that keep obligations: early settlements whose obligation has not opened."""

    status: Literal["ok", "attention", "unknown"]
    overdue: int | None = None
    oldest_received_at: str | None = None
    read_at: str | None = None


class Health(BaseModel):
    """What /health answers: 200 when NATS and the database are up, 503 while one is away."""

    service: str
    status: Literal["ok", "degraded"]
    nats: Literal["connected", "disconnected"]
    database: Literal["ok", "unreachable"]
    outbox_pending: int | None
    backlog: BacklogHealth
    load_shedding: LoadSheddingHealth | None = None
    pending_settlements: PendingSettlementsHealth | None = None


def broker_connected(broker: NatsBroker) -> bool:
    """Tell whether the broker's NATS connection is up now (not connecting, not reconnecting)."""
    # FastStream keeps the nats-py client it connected with here; nats-py's own flag is the
    # truth: it is false from the moment the connection drops until it is re-established.
    connection = getattr(broker, "_connection", None)
    return bool(connection is not None and connection.is_connected)


def broker_closed(broker: NatsBroker) -> bool:
    """Tell whether the broker's NATS connection is closed for good (nats-py gave it up)."""
    # nats-py reconnects without end (through a broker's restart, or refused credentials), but
    # closes for good on an error the server sends while connected that is neither a stale
    # connection nor a permissions error: FastStream's subscribers then never fetch again,
    # though HTTP keeps answering.
    connection = getattr(broker, "_connection", None)
    return bool(connection is not None and connection.is_closed)


async def watch_connection(
    broker: NatsBroker, on_closed: Callable[[], None], *, interval: float = 1.0
) -> None:
    """Call on_closed once the broker's connection is closed for good, then return."""
    while True:
        if broker_closed(broker):
            on_closed()
            return
        await asyncio.sleep(interval)


# The exit status of a service that stopped because its NATS connection was closed for good:
# not 0, so that every supervisor (qorgau up, systemd, a container runtime) starts it again.
EXIT_NATS_CLOSED = 75  # EX_TEMPFAIL
# How often a service counts its overdue early settlements (shared.settlements.Watch).
SETTLEMENTS_INTERVAL = 60.0


def broker_consumers(broker: NatsBroker) -> list[Consumer]:
    """Return the durable JetStream consumers the broker's subscribers declare."""
    options = [getattr(sub, "extra_options", None) or {} for sub in broker.subscribers]
    return [
        Consumer(option["stream"], option["durable"])
        for option in options
        if option.get("durable") and option.get("stream")
    ]


@dataclass
class ServiceRuntime:
    """The parts of one service process, built once by its composition root."""

    service: str
    settings: ServiceSettings
    clock: Clock
    engine: Engine
    tracer_provider: TracerProvider
    broker: NatsBroker
    relay: OutboxRelay
    backlog: BacklogMonitor
    # Set while the HTTP server runs: the task connecting to NATS, the relay's, the loops'.
    _connecting: asyncio.Task[None] | None = None
    _relaying: asyncio.Task[None] | None = None
    _loops: list[asyncio.Task[None]] = field(default_factory=list)
    _background: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = field(
        default_factory=list
    )
    _health_parts: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    # Set when the service stops itself to be restarted: the process's exit status.
    exit_status: int = 0
    # The HTTP server serve() runs (None in tests that drive the app in-process).
    _server: uvicorn.Server | None = None

    @classmethod
    def build(cls, settings: ServiceSettings, *, clock: Clock) -> ServiceRuntime:
        """Connect nothing yet: make the engine (migrated), tracer, broker and relay."""
        service = settings.service_name
        engine = make_engine(settings.resolved_database_url())
        migrate(engine, service)
        provider = setup_tracing(
            service, var_dir=settings.var_dir, otlp_endpoint=settings.otlp_endpoint
        )
        broker = make_broker(
            settings.resolved_nats_url(), service=service, tracer_provider=provider
        )
        relay = OutboxRelay(
            engine=engine,
            publisher=broker,
            clock=clock,
            interval=settings.relay_interval,
            is_connected=lambda: broker_connected(broker),
            tracer_provider=provider,
        )
        backlog = BacklogMonitor(
            engine=engine,
            clock=clock,
            client=lambda: getattr(broker, "_connection", None),
            own=lambda: broker_consumers(broker),
        )
        runtime = cls(service, settings, clock, engine, provider, broker, relay, backlog)
        # Read in the background, so that /health answers from the last reading.
        runtime.run_in_background("backlog", backlog.run)
        return runtime

    async def _connect_forever(self) -> None:
        # A service that cannot reach NATS keeps serving HTTP (intake keeps taking reports);
        # its outbox waits and is relayed once NATS is back.
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                log.info("%s connected to NATS", self.service)
                break
            except Exception as error:
                log.warning("%s cannot reach NATS yet: %s", self.service, type(error).__name__)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await watch_connection(self.broker, self._restart)

    def _restart(self) -> None:
        # A connection closed for good cannot be reopened under FastStream's running
        # subscribers: the process stops (the relay finishes its batch; what was fetched and
        # not acked is delivered again) and its supervisor starts it afresh, connected.
        connection = getattr(self.broker, "_connection", None)
        error = getattr(connection, "last_error", None)
        log.error(
            "%s: NATS connection closed for good (%s); stopping to be restarted",
            self.service,
            type(error).__name__ if error is not None else "closed",
        )
        self.exit_status = EXIT_NATS_CLOSED
        # uvicorn's own graceful shutdown, as on `kill`: the lifespan's cleanup runs.
        if self._server is not None:
            self._server.should_exit = True

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """Start messaging and the relay with the HTTP server; stop them cleanly with it."""
        self._connecting = asyncio.create_task(
            self._connect_forever(), name=f"{self.service}-connect"
        )
        self._relaying = asyncio.create_task(self.relay.run(), name=f"{self.service}-relay")
        self._loops = [
            asyncio.create_task(factory(), name=f"{self.service}-{name}")
            for name, factory in self._background
        ]
        try:
            yield
        finally:
            # The relay is asked to stop, not cancelled: it finishes the batch it is publishing.
            self.relay.stop()
            for task in [*self._loops, self._connecting]:
                task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(
                    asyncio.gather(self._connecting, self._relaying, *self._loops), timeout=5
                )
            with contextlib.suppress(Exception):
                await self.broker.stop()
            self.tracer_provider.shutdown()
            self.engine.dispose()

    def run_in_background(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a loop (a poller, say) for the life of the HTTP server; cancelled at shutdown."""
        self._background.append((name, loop))

    def run_every(self, name: str, interval: float, step: Callable[[], object]) -> None:
        """Run a blocking step every interval; wake the relay when it did something."""

        async def loop() -> None:
            while True:
                try:
                    if await asyncio.to_thread(step):
                        self.relay.wake()
                except Exception as error:
                    # Logged and tried again next round: the database keeps what is due.
                    log.error("%s %s failed: %s", self.service, name, type(error).__name__)
                await asyncio.sleep(interval)

        self.run_in_background(name, loop)

    def watch_settlements(self, table: type[PendingSettlementColumns]) -> None:
        """Show on /health, and log, early settlements whose obligation has not opened."""
        watch = Watch(self.engine, table, self.clock)
        self.run_every("settlements", SETTLEMENTS_INTERVAL, watch.step)
        self.add_health("pending_settlements", watch.health)

    def add_health(self, name: str, part: Callable[[], dict[str, Any]]) -> None:
        """Add a section to /health (intake's load shedding); it must answer without I/O."""
        self._health_parts[name] = part

    def health(self) -> dict[str, Any]:
        """Report NATS and database state and the backlog; the status is ok only when both are."""
        db_ok = database_ok(self.engine)
        nats_ok = broker_connected(self.broker)
        report = {
            "service": self.service,
            "status": "ok" if db_ok and nats_ok else "degraded",
            "nats": "connected" if nats_ok else "disconnected",
            "database": "ok" if db_ok else "unreachable",
            "outbox_pending": pending_count(self.engine) if db_ok else None,
            # From the background reading: no request to NATS on the way to an answer.
            "backlog": self.backlog.health(),
        }
        for name, part in self._health_parts.items():
            report[name] = part()
        return report

    def http_app(self, *, title: str, routers: Sequence[APIRouter]) -> FastAPI:
        """Build the FastAPI app with health, validation errors by field, and tracing."""
        app = FastAPI(title=title, lifespan=self.lifespan)

        @app.get(
            "/health",
            response_model=None,
            responses={200: {"model": Health}, 503: {"model": Health, "description": "Degraded"}},
        )
        def health() -> JSONResponse:
            # 503 while NATS or the database is away, so that whatever waits for a ready
            # service (`qorgau up`, a load balancer) waits; the API itself keeps serving.
            report = self.health()
            return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

        @app.exception_handler(RequestValidationError)
        async def by_field(_request: Request, error: RequestValidationError) -> JSONResponse:
            return JSONResponse({"detail": field_errors(error.errors())}, status_code=422)

        @app.exception_handler(HTTPException)
        async def unreadable(request: Request, error: HTTPException) -> Response:
            # FastAPI's one 400 is a body it could not read as JSON (not UTF-8, nested past the
            # parser's depth): bad input like any other, so a 422 naming the body.
            if error.status_code == 400:
                problem = {
                    "field": "body",
                    "message": "not a JSON document",
                    "type": "json_invalid",
                }
                return JSONResponse({"detail": [problem]}, status_code=422)
            return await http_exception_handler(request, error)

        @app.exception_handler(OperationalError)
        async def database_away(_request: Request, error: OperationalError) -> JSONResponse:
            # The database is down or restarting: an answer the client may retry, rather than
            # a 500 whose logged traceback would carry the statement's parameters.
            log.warning("%s: database unavailable: %s", self.service, type(error.orig).__name__)
            return JSONResponse(
                {"detail": "the database is unavailable; try again shortly"},
                status_code=503,
                headers={"Retry-After": "2"},
            )

        for router in routers:
            # Every route needs a token, reads its input and its database: each may answer 401,
            # 422 and, while the database is away, 503.
            app.include_router(router, responses=refusals(401, 422, 503))
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=self.tracer_provider, excluded_urls="health"
        )
        return app

    def serve(self, app: FastAPI) -> None:
        """Run the HTTP server (and with it, messaging) until a signal, or a lost NATS, stops it."""
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._server.run()
        if self.exit_status:
            raise SystemExit(self.exit_status)


# Where FastAPI found a value: the field is named as the client wrote it, without this.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Turn pydantic errors into one message per bad field, never echoing the bad value."""
    out: list[dict[str, Any]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in _SOURCES:
            loc = loc[1:]
        problem = {
            "field": ".".join(loc) or "body",
            "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            "type": error.get("type", "value_error"),
        }
        # A path value read by a route and by its access check is one bad field, not two.
        if problem not in out:
            out.append(problem)
    return out
