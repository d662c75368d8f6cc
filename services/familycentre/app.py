"""The family centre's composition root: settings -> tracing -> engine -> broker -> routers ->
relay -> the reports to intake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.familycentre import api, subscribers
from services.familycentre.config import FamilyCentreSettings
from services.familycentre.handlers import CentreDeps, seed_directory, send_pending
from services.familycentre.tables import PendingSettlement, Stay
from shared import audit_api, auth
from shared.access import Gatekeeper, audit_key
from shared.clock import Clock, SystemClock
from shared.crypto import FieldCipher, KeyRing
from shared.runtime import ServiceRuntime

# A token the centre signs for its own report to intake lives only as long as the call.
REPORT_TOKEN_TTL = timedelta(minutes=5)


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    try:
        data = response.json() if response.status_code in (200, 201) else {}
    except ValueError:
        data = {}
    return response.status_code, data


def intake_client(base_url: str) -> tuple[Any, Any]:
    """Return how the centre posts a report to intake and reads the case back (public API)."""
    base = base_url.rstrip("/")

    def post(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        return _answer(httpx.post(f"{base}/v1/reports", json=body, headers=headers, timeout=10))

    def read_case(case_id: str, token: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        return _answer(httpx.get(f"{base}/v1/cases/{case_id}", headers=headers, timeout=10))

    return post, read_case


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
    runtime.watch_settlements(PendingSettlement)
    gate = Gatekeeper(runtime.engine, audit_key(ring), runtime.clock)
    app = runtime.http_app(
        title="Qorgau family centre",
        routers=[api.router(deps, gate=gate, wake_relay=runtime.relay.wake)],
    )
    keys = auth.deployment_keys(settings)
    audit_api.mount(app, gate, auth.TokenVerifier(keys, runtime.clock), runtime=runtime)

    # Verifying by the issuer's JWKS, the centre holds no signing key: its token is issued to it.
    settings.require(
        settings.intake_token_file is not None or isinstance(keys, auth.TokenKeys),
        "FAMILYCENTRE_INTAKE_TOKEN_FILE (the centre's token for reporting to intake)",
    )

    def token_for(stay: Stay) -> str:
        # The centre reports in its own name, as any agency does (reporter = the centre).
        if settings.intake_token_file is not None:
            return settings.intake_token_file.read_text(encoding="utf-8").strip()
        if not isinstance(keys, auth.TokenKeys):
            raise RuntimeError("FAMILYCENTRE_INTAKE_TOKEN_FILE is needed to report to intake")
        return keys.issue(
            agency_id=stay.centre_agency_id,
            agency_type="family_support_centre",
            region=stay.region,
            role=auth.Role.CASEWORKER,
            subject="familycentre-service",
            now=runtime.clock.now(),
            ttl=REPORT_TOKEN_TTL,
        )

    post, read_case = intake_client(settings.resolved_intake_url())
    runtime.run_every(
        "intake-reports",
        settings.intake_interval,
        lambda: send_pending(deps, post=post, read_case=read_case, token_for=token_for),
    )
    return runtime, app


def main() -> None:
    """Run the family centre service."""
    runtime, app = build()
    runtime.serve(app)
