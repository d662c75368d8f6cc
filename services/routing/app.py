"""Routing's composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.routing import api, catalogue, subscribers
from services.routing.config import RoutingSettings
from services.routing.handlers import RoutingDeps, check_unacknowledged, seed_directory
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.clock import Clock, SystemClock
from shared.crypto import KeyRing
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
        rules=catalogue.load(settings.catalogue),
        ack_timeout=settings.ack_timeout,
    )
    seed_directory(deps=deps, path=settings.seed_directory)
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    # Referrals left unanswered past ROUTING_ACK_TIMEOUT raise referral_unacknowledged.
    runtime.run_every(
        "ack-timer", settings.ack_poll_interval, lambda: check_unacknowledged(deps=deps)
    )
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau routing",
        routers=[api.router(deps, gate=gate, wake_relay=runtime.relay.wake)],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)
    return runtime, app


def main() -> None:
    """Run the routing service."""
    runtime, app = build()
    runtime.serve(app)
