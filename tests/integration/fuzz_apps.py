"""Each service's HTTP app as it is composed for production, in process, for the fuzz tests.

The app is the one `services.<name>.app.build` wires (its routes, exception handlers, token
middleware, OpenAPI), on a SQLite file in a temporary directory, at a fixed clock. Its lifespan
is not run: the fuzz tests exercise HTTP input, and the broker, relay and timers it would start
add nothing there but load (what a route writes waits in the outbox, as when NATS is away).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.casework import app as casework_app
from services.casework.config import CaseworkSettings
from services.deadlines import app as deadlines_app
from services.deadlines.config import DeadlinesSettings
from services.familycentre import app as familycentre_app
from services.familycentre.config import FamilyCentreSettings
from services.intake import app as intake_app
from services.intake.config import IntakeSettings
from services.routing import app as routing_app
from services.routing.config import RoutingSettings
from services.shelter import app as shelter_app
from services.shelter.config import ShelterSettings
from shared.auth import Role, TokenKeys
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
# Nothing listens there: the services keep their events in the outbox.
NO_NATS = "nats://127.0.0.1:1"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

SETTINGS: dict[str, Any] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "deadlines": DeadlinesSettings,
    "casework": CaseworkSettings,
    "shelter": ShelterSettings,
    "familycentre": FamilyCentreSettings,
}
BUILDERS: dict[str, Callable[..., tuple[ServiceRuntime, FastAPI]]] = {
    "intake": intake_app.build,
    "routing": routing_app.build,
    "deadlines": deadlines_app.build,
    "casework": casework_app.build,
    "shelter": shelter_app.build,
    "familycentre": familycentre_app.build,
}


def without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app answering HTTP only: a lifespan startup or shutdown is acknowledged, not run."""

    async def serve(
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return serve


@dataclass
class ServiceApp:
    """One service's app in process, with tokens of an operator and of a caseworker."""

    name: str
    runtime: ServiceRuntime
    app: FastAPI
    keys: TokenKeys

    @property
    def asgi(self) -> ASGIApp:
        """The app for an ASGI client that starts lifespans (schemathesis does)."""
        return without_lifespan(self.app)

    def token(
        self,
        role: Role,
        agency_id: str = "kz-75-police",
        agency_type: str = "police",
        region: str | None = "KZ-75",
    ) -> dict[str, str]:
        """The Authorization header of a person of an agency with a role."""
        if role is Role.OPERATOR:
            agency_id, agency_type, region = (
                "kz-child-rights-national",
                "child_rights_national",
                None,
            )
        issued = self.keys.issue(
            agency_id=agency_id,
            agency_type=agency_type,
            region=region,
            role=role,
            subject=f"fuzz-{role}",
            now=NOW,
        )
        return {"Authorization": f"Bearer {issued}"}

    def close(self) -> None:
        """Release the database and the tracer."""
        self.runtime.tracer_provider.shutdown()
        self.runtime.engine.dispose()


def build(name: str, var: Path, database_url: str | None = None) -> ServiceApp:
    """Build a service's app in var (keys, traces, and a SQLite database unless one is given)."""
    settings = SETTINGS[name](
        var_dir=var,
        database_url=database_url or f"sqlite:///{var / 'service.db'}",
        nats_url=NO_NATS,
        token_key_file=var / "keys" / "token.key",
    )
    runtime, app = BUILDERS[name](settings, clock=FixedClock(NOW))
    settings = runtime.settings
    keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
    return ServiceApp(name, runtime, app, keys)
