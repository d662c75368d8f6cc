"""The family centre's composition root: settings -> tracing -> engine -> broker -> routers ->
relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.familycentre import api, subscribers
from services.familycentre.config import FamilyCentreSettings
from services.familycentre.handlers import CentreDeps, seed_directory
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime


def build(
    settings: FamilyCentreSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the family centre service."""
    settings = settings or FamilyCentreSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    deps = CentreDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        tracer=runtime.tracer_provider.get_tracer("qorgau.familycentre"),
        cipher=FieldCipher(ring),
    )
    seed_directory(deps=deps, path=settings.seed_directory)
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau family centre",
        routers=[api.router(deps, gate=gate, wake_relay=runtime.relay.wake)],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)
    return runtime, app


def main() -> None:
    """Run the family centre service."""
    runtime, app = build()
    runtime.serve(app)
