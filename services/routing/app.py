"""Routing's composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.routing import api, subscribers
from services.routing.config import RoutingSettings
from services.routing.handlers import RoutingDeps, seed_directory
from shared.clock import Clock, SystemClock
from shared.runtime import ServiceRuntime


def build(
    settings: RoutingSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the routing service."""
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    deps = RoutingDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        tracer=runtime.tracer_provider.get_tracer("qorgau.routing"),
    )
    seed_directory(deps=deps, path=settings.seed_directory)
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    app = runtime.http_app(title="Qorgau routing", routers=[api.router(deps)])
    return runtime, app


def main() -> None:
    """Run the routing service."""
    runtime, app = build()
    runtime.serve(app)
