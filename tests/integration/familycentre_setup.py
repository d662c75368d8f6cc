"""The family centre in process on a real database, behind real tokens, with a clock tests move."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import col, select

from services.familycentre import api, handlers
from services.familycentre.config import AGENCIES
from services.familycentre.handlers import CentreDeps
from shared import auth
from shared.access import Gatekeeper
from shared.clock import FixedClock
from shared.crypto import FieldCipher, KeyRing
from shared.db import unit_of_work
from shared.outbox import OutboxRow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Monday 2026-11-23, 10:00 in Almaty.
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
CENTRE = "kz-75-family-support-centre"
SOCIAL = "kz-75-social-protection"
POLICE = "kz-75-police"
SHELTER = "kz-75-shelter"
HEALTH = "kz-75-healthcare"
TYPES = {
    CENTRE: "family_support_centre",
    SOCIAL: "social_protection",
    POLICE: "police",
    SHELTER: "shelter",
    HEALTH: "healthcare",
}
KEYS = auth.TokenKeys.generate()
AUDIT_KEY = b"familycentre-audit-test-key-0000"


@dataclass
class Centre:
    """The centre's deps on a migrated database and its HTTP client."""

    engine: Engine
    clock: FixedClock
    deps: CentreDeps
    client: TestClient = field(init=False)

    def __post_init__(self) -> None:
        app = FastAPI()
        gate = Gatekeeper(self.engine, AUDIT_KEY, self.clock)
        app.include_router(api.router(self.deps, gate=gate))
        auth.install(app, auth.TokenVerifier(KEYS, self.clock))
        self.client = TestClient(app)

    def auth(self, agency_id: str, role: str) -> dict[str, str]:
        """The Authorization header of a person of an agency."""
        token = KEYS.issue(
            agency_id=agency_id,
            agency_type=TYPES.get(agency_id, "operator"),
            region="KZ-75",
            role=role,
            subject=f"person-{role}-{agency_id}",
            now=self.clock.now(),
        )
        return {"Authorization": f"Bearer {token}"}

    def post(
        self,
        path: str,
        body: dict[str, Any] | None,
        agency_id: str = CENTRE,
        role: str = "caseworker",
    ) -> Any:
        """POST as a person of an agency."""
        return self.client.post(path, json=body, headers=self.auth(agency_id, role))

    def put(
        self, path: str, body: dict[str, Any], agency_id: str = CENTRE, role: str = "caseworker"
    ) -> Any:
        """PUT as a person of an agency."""
        return self.client.put(path, json=body, headers=self.auth(agency_id, role))

    def get(self, path: str, agency_id: str = CENTRE, role: str = "caseworker") -> Any:
        """GET as a person of an agency."""
        return self.client.get(path, headers=self.auth(agency_id, role))

    def staged(self, name: str) -> list[dict[str, Any]]:
        """The payloads staged in the outbox on a subject containing name, oldest first."""
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
            return [
                json.loads(row.payload) | {"_subject": row.subject}
                for row in rows
                if name in row.subject
            ]

    def opened(self) -> dict[str, dict[str, Any]]:
        """The obligations staged as opened, by code (the last of each code)."""
        return {each["code"]: each for each in self.staged("obligation_opened")}

    def met(self) -> dict[str, dict[str, Any]]:
        """The obligations staged as fulfilled, by code (the last of each code)."""
        return {each["code"]: each for each in self.staged("obligation_fulfilled")}


def make_centre(engine: Engine) -> Centre:
    """Return the centre on a migrated database, its directory seeded."""
    clock = FixedClock(NOW)
    deps = CentreDeps(
        engine=engine,
        clock=clock,
        tracer=TracerProvider().get_tracer("test"),
        cipher=FieldCipher(KeyRing.generate()),
    )
    handlers.seed_directory(deps=deps, path=AGENCIES)
    return Centre(engine, clock, deps)
