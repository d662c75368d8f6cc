"""Intake's composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake import api, subscribers
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeDeps
from shared import audit_api, auth
from shared.access import audit_key
from shared.backlog import LoadShedder
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime


def build(
    settings: IntakeSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the intake service."""
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    deps = IntakeDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        cipher=FieldCipher(ring),
        audit_key=audit_key(ring),
        wake_relay=runtime.relay.wake,
    )
    subscribers.register(runtime.broker, deps)
    # Reads the report path's consumers with intake's own, in the runtime's background round.
    shedder = LoadShedder(
        runtime.backlog,
        bound=settings.shed_backlog,
        resume_below=settings.shed_resume_backlog,
        per_report=settings.shed_report_weight,
    )
    runtime.add_health("load_shedding", shedder.health)
    app = runtime.http_app(
        title="Qorgau intake",
        routers=[api.router(deps, max_body_bytes=settings.max_body_bytes, refuse=shedder.refuse)],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, deps.gate(), auth.TokenVerifier(keys, runtime.clock), runtime=runtime)
    return runtime, app


def main() -> None:
    """Run the intake service."""
    runtime, app = build()
    runtime.serve(app)
