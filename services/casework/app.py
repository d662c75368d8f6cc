"""Casework's composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.casework import api, subscribers
from services.casework.config import CaseworkSettings
from services.casework.handlers import CaseworkDeps, seed_directory
from services.casework.tables import PendingSettlement
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime


def build(
    settings: CaseworkSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the casework service."""
    settings = settings or CaseworkSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    cipher = FieldCipher(ring)
    deps = CaseworkDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        tracer=runtime.tracer_provider.get_tracer("qorgau.casework"),
        cipher=cipher,
    )
    seed_directory(deps=deps, path=settings.seed_directory)
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    runtime.watch_settlements(PendingSettlement)
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau casework",
        routers=[api.router(deps, gate=gate, cipher=cipher, wake_relay=runtime.relay.wake)],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)
    return runtime, app


def main() -> None:
    """Run the casework service."""
    runtime, app = build()
    runtime.serve(app)
