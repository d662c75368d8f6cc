"""Casework in process on a real database, fed the events routing publishes, behind real tokens."""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import col, select

from services.casework import api, handlers
from services.casework.config import AGENCIES
from services.casework.handlers import CaseworkDeps
from shared import auth
from shared.access import Gatekeeper
from shared.clock import FixedClock
from shared.contracts.obligations import ObligationOpened
from shared.contracts.routing import ReferralIssued, ReferralPurpose
from shared.crypto import FieldCipher, KeyRing
from shared.db import unit_of_work
from shared.outbox import OutboxRow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Monday 2026-11-23, 10:00 in Almaty.
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
SCHOOL = "kz-75-school-12"
CRR = "kz-75-child-rights-regional"
POLICE = "kz-75-police"
PSY = "kz-75-psych-support-centre"
FAMILY = "kz-75-family-support-centre"
COMMISSION = "kz-75-minors-commission"
TYPES = {
    SCHOOL: "education_org",
    CRR: "child_rights_regional",
    POLICE: "police",
    PSY: "psych_support_centre",
    FAMILY: "family_support_centre",
    COMMISSION: "minors_commission",
    "kz-75-guardianship": "guardianship",
    "kz-75-school-99": "education_org",
}
KEYS = auth.TokenKeys.generate()
AUDIT_KEY = b"casework-audit-test-key-00000000"


@dataclass
class Casework:
    """Casework's deps on a migrated database, with a clock tests move, and its HTTP client."""

    engine: Engine
    clock: FixedClock
    deps: CaseworkDeps
    client: TestClient = field(init=False)

    def __post_init__(self) -> None:
        app = FastAPI()
        gate = Gatekeeper(self.engine, AUDIT_KEY, self.clock)
        app.include_router(api.router(self.deps, gate=gate, cipher=self.deps.cipher))
        auth.install(app, auth.TokenVerifier(KEYS, self.clock))
        self.client = TestClient(app)

    def auth(self, agency_id: str, role: str = "caseworker") -> dict[str, str]:
        """The Authorization header of a person of an agency."""
        token = KEYS.issue(
            agency_id=agency_id,
            agency_type=TYPES.get(agency_id, "operator"),
            region=None if role == "operator" else "KZ-75",
            role=role,
            subject=f"person-{role}-{agency_id}",
            now=self.clock.now(),
        )
        return {"Authorization": f"Bearer {token}"}

    def post(
        self, path: str, body: dict[str, Any], agency_id: str, role: str = "caseworker"
    ) -> Any:
        """POST as a person of an agency."""
        return self.client.post(path, json=body, headers=self.auth(agency_id, role))

    def get(self, path: str, agency_id: str, role: str = "caseworker") -> Any:
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


def make_casework(engine: Engine) -> Casework:
    clock = FixedClock(NOW)
    deps = CaseworkDeps(
        engine=engine,
        clock=clock,
        tracer=TracerProvider().get_tracer("test"),
        cipher=FieldCipher(KeyRing.generate()),
    )
    handlers.seed_directory(deps=deps, path=AGENCIES)
    return Casework(engine, clock, deps)


def opened(
    case_id: uuid.UUID,
    code: str,
    actor: str,
    *,
    term: str = "immediate",
    started_at: datetime | None = None,
    target_type: str | None = None,
    legal_basis: str | None = None,
) -> ObligationOpened:
    """Routing's ObligationOpened for a row an agency owes on the case."""
    return ObligationOpened(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        obligation_id=uuid.uuid5(case_id, f"{code}|{actor}"),
        code=code,
        legal_basis=legal_basis or f"Rules 38874, p.{code}",
        actor_agency_type=TYPES.get(actor, "education_org"),
        actor_agency_id=actor,
        target_agency_type=target_type,
        term=term,
        started_at=started_at or NOW - timedelta(hours=1),
        region="KZ-75",
    )


def arrived(case_id: uuid.UUID, *, to: str = CRR, acting_for: str | None = None) -> ReferralIssued:
    """Routing's R1 delivery of the case to the regional child-rights body."""
    return ReferralIssued(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        referral_id=uuid.uuid5(case_id, f"R1|{to}"),
        code="R1",
        legal_basis="Rules 38874, p.8",
        from_agency_type="education_org",
        from_agency_id=SCHOOL,
        to_agency_type=TYPES.get(to, "guardianship"),
        to_agency_id=to,
        region="KZ-75",
        issued_at=NOW - timedelta(hours=1),
        purpose=ReferralPurpose.TRANSFER,
        acting_for=acting_for,
    )
