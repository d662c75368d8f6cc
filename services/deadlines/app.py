"""Deadlines' composition root: settings -> engine -> broker -> routers -> relay -> poller."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.deadlines import api, subscribers
from services.deadlines.config import DeadlinesSettings
from services.deadlines.handlers import DeadlinesDeps, Poller, load_overrides_file
from services.deadlines.tables import PendingSettlement
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.calendar import CalendarOverrides
from shared.clock import Clock, SystemClock
from shared.crypto import KeyRing
from shared.runtime import ServiceRuntime

log = logging.getLogger(__name__)


def build(
    settings: DeadlinesSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the deadlines service."""
    settings = settings or DeadlinesSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    deps = DeadlinesDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        policy=settings.policy(),
        tracer=runtime.tracer_provider.get_tracer("qorgau.deadlines"),
    )
    if settings.calendar_overrides_file:
        # The file's day transfers join the calendar table; open terms they move are re-counted.
        change = load_overrides_file(
            deps=deps, overrides=CalendarOverrides.from_file(settings.calendar_overrides_file)
        )
        log.info("calendar overrides file: %d day(s) new", len(change.changed_days))
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    runtime.watch_settlements(PendingSettlement)
    # The timer: wakes at the next due time (or every poll interval, for new work), fires what
    # fell due (after a restart, all of it at once) and prepares what falls due soon.
    poller = Poller(
        deps,
        interval=settings.poll_interval,
        ahead=settings.prepare_ahead,
        keep=settings.prepare_keep,
    )

    async def poll() -> None:
        while True:
            wait = settings.poll_interval
            try:
                report, wait = await asyncio.to_thread(poller.step)
                if report.count:
                    runtime.relay.wake()
            except Exception as error:
                # Logged and tried again next round: the database keeps what is due.
                log.error("deadlines poller failed: %s", type(error).__name__)
            await asyncio.sleep(wait)

    runtime.run_in_background("poller", poll)
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau deadlines",
        routers=[
            api.router(
                deps,
                gate=gate,
                wake_relay=runtime.relay.wake,
                max_body_bytes=settings.max_body_bytes,
            )
        ],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)
    return runtime, app


def main() -> None:
    """Run the deadlines service."""
    runtime, app = build()
    runtime.serve(app)
