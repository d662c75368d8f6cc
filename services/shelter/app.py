"""Shelter's composition root: settings -> tracing -> engine -> broker -> routers -> relay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.shelter import api, subscribers
from services.shelter.config import ShelterSettings
from services.shelter.handlers import ShelterDeps, load_directory, send_pending
from services.shelter.tables import ShelterStay
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime

# A token the shelter signs for its own report to intake lives only as long as the call.
REPORT_TOKEN_TTL = timedelta(minutes=5)


def intake_poster(base_url: str) -> Any:
    """Return a function posting a report to intake's public API (loopback by default)."""

    def post(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        answer = httpx.post(
            f"{base_url.rstrip('/')}/v1/reports",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        try:
            data = answer.json() if answer.status_code in (200, 201) else {}
        except ValueError:
            data = {}
        return answer.status_code, data

    return post


def build(
    settings: ShelterSettings | None = None, clock: Clock | None = None
) -> tuple[ServiceRuntime, FastAPI]:
    """Wire the shelter service."""
    settings = settings or ShelterSettings()
    runtime = ServiceRuntime.build(settings, clock=clock or SystemClock())
    ring = KeyRing.load_or_create(settings.resolved_data_key_file())
    deps = ShelterDeps(
        engine=runtime.engine,
        clock=runtime.clock,
        tracer=runtime.tracer_provider.get_tracer("qorgau.shelter"),
        cipher=FieldCipher(ring),
        agencies=load_directory(settings.directory_file),
    )
    subscribers.register(runtime.broker, deps, wake_relay=runtime.relay.wake)
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau shelter", routers=[api.router(deps, gate=gate, wake_relay=runtime.relay.wake)]
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)

    # Verifying by the issuer's JWKS, the shelter holds no signing key: its token is issued to it.
    settings.require(
        settings.intake_token_file is not None or isinstance(keys, auth.TokenKeys),
        "SHELTER_INTAKE_TOKEN_FILE (the shelter's token for reporting to intake)",
    )

    def token_for(stay: ShelterStay) -> str:
        # The shelter reports in its own name, as any agency does (reporter = the shelter).
        if settings.intake_token_file is not None:
            return settings.intake_token_file.read_text(encoding="utf-8").strip()
        if not isinstance(keys, auth.TokenKeys):
            # With the issuer's JWKS this process holds no signing key: the token is issued to it.
            raise RuntimeError("SHELTER_INTAKE_TOKEN_FILE is needed to report to intake")
        return keys.issue(
            agency_id=stay.shelter_agency_id,
            agency_type="shelter",
            region=stay.region,
            role=auth.Role.CASEWORKER,
            subject="shelter-service",
            now=runtime.clock.now(),
            ttl=REPORT_TOKEN_TTL,
        )

    post = intake_poster(settings.resolved_intake_url())
    runtime.run_every(
        "intake-reports",
        settings.intake_interval,
        lambda: send_pending(deps, post=post, token_for=token_for),
    )
    return runtime, app


def main() -> None:
    """Run the shelter service."""
    runtime, app = build()
    runtime.serve(app)
