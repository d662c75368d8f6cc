"""Deadlines' composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.deadlines import api, subscribers
from services.deadlines.config import DeadlinesSettings
from services.deadlines.handlers import DeadlinesDeps
from shared.calendar import CalendarOverrides, WorkingCalendar
from shared.clock import Clock, SystemClock
from shared.runtime import ServiceRuntime


def build(
    settings: DeadlinesSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the deadlines service."""
    settings = settings or DeadlinesSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    overrides = (
        CalendarOverrides.from_file(settings.calendar_overrides_file)
        if settings.calendar_overrides_file
        else None
    )
    calendar = WorkingCalendar(overrides=overrides, immediate_grace=settings.immediate_grace)
    deps = DeadlinesDeps(engine=runtime.engine, clock=runtime.clock, calendar=calendar)
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    app = runtime.http_app(title="Qorgau deadlines", routers=[api.router(deps)])
    return runtime, app


def main() -> None:
    """Run the deadlines service."""
    runtime, app = build()
    runtime.serve(app)
