"""Integrators read the bus only: every HTTP route of every service refuses them, on the record.

Each service's app is built by its own composition root (NATS unreachable: not needed), on
SQLite; each route is called with an integrator's token, whatever its path parameters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.deadlines import app as deadlines_app
from services.deadlines.config import DeadlinesSettings
from services.intake import app as intake_app
from services.intake.config import IntakeSettings
from services.routing import app as routing_app
from services.routing.config import RoutingSettings
from shared import audit
from shared.auth import Role, TokenKeys
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
INTEGRATOR = "kz-contact-centre-111"

Build = Callable[..., tuple[ServiceRuntime, FastAPI]]
SERVICES: dict[str, tuple[Build, Any]] = {
    "intake": (intake_app.build, IntakeSettings),
    "routing": (routing_app.build, RoutingSettings),
    "deadlines": (deadlines_app.build, DeadlinesSettings),
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_every_route_refuses_an_integrator_and_audits_it(
    service: str, tmp_path: Path
) -> None:
    build, settings_class = SERVICES[service]
    settings = settings_class(
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'service.db'}",
        nats_url="nats://127.0.0.1:1",
        token_key_file=tmp_path / "keys" / "token.key",
    )
    runtime, app = build(settings, clock=FixedClock(NOW))
    keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
    token = keys.issue(
        agency_id=INTEGRATOR,
        agency_type="contact_centre_111",
        region=None,
        role=Role.INTEGRATOR,
        subject="integrator-system",
        now=NOW,
    )
    routes = [
        (method.upper(), _concrete(path))
        for path, operations in sorted(app.openapi()["paths"].items())
        if path != "/health"
        for method in sorted(operations)
    ]
    routes += [("GET", "/openapi.json"), ("GET", "/docs")]
    assert len(routes) >= 4
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for method, path in routes:
                answer = await client.request(
                    method, path, json={}, headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 403, (method, path, answer.text)
                assert "event bus only" in answer.json()["detail"]
            assert (await client.get("/health")).status_code in (200, 503)
        with runtime.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT agency_id, role, outcome, action FROM audit_log ORDER BY seq")
            ).all()
        assert [(r.agency_id, r.role, r.outcome) for r in rows] == [
            (INTEGRATOR, "integrator", audit.REFUSED)
        ] * len(routes)
        assert [r.action for r in rows] == [f"{m} {p}"[:60] for m, p in routes]
    finally:
        runtime.tracer_provider.shutdown()
        runtime.engine.dispose()
