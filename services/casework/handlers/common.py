"""What casework's handlers share: their dependencies, errors, envelopes and the duty view."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from opentelemetry import trace
from sqlalchemy import Engine
from sqlmodel import Session

from services.casework import domain
from services.casework.tables import CaseworkObligation
from shared import obligationsview
from shared.clock import Clock
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationOpened
from shared.crypto import FieldCipher
from shared.outbox import stage

SERVICE = "casework"


class UnknownObligation(LookupError):
    """Casework knows no obligation with this id (answered 404)."""


class UnknownCase(LookupError):
    """No child-rights body holds a case with this id (answered 404)."""


class UnknownAction(LookupError):
    """No action has this id (answered 404)."""


@dataclass(frozen=True)
class Actor:
    """Who records an action: a person (by id) of an agency, with a role."""

    person_id: str
    agency_id: str
    agency_type: str
    region: str | None
    is_head: bool


@dataclass
class CaseworkDeps:
    """What casework's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer
    cipher: FieldCipher


def envelope(
    now: datetime,
    *,
    cause: Event | None = None,
    case_id: str | None = None,
    correlation_id: str | None = None,
    agency_id: str | None = None,
) -> dict[str, Any]:
    """Return the envelope of an event casework stages now: following its cause, or its case."""
    fields: dict[str, Any]
    if cause is not None:
        fields = cause.follow()
    else:
        fields = {
            "case_id": uuid.UUID(case_id) if case_id else None,
            "correlation_id": uuid.UUID(correlation_id or case_id or str(uuid.uuid4())),
        }
    return {**fields, "producer": SERVICE, "occurred_at": now, "agency_id": agency_id}


def duty_of(row: CaseworkObligation) -> domain.Duty:
    """Return what the domain reads of a stored obligation."""
    return domain.Duty(
        obligation_id=row.obligation_id,
        case_id=row.case_id,
        code=row.code,
        actor_agency_type=row.actor_agency_type,
        actor_agency_id=row.actor_agency_id,
        region=row.region,
        target_agency_type=row.target_agency_type,
        started_at=row.started_at,
        status=domain.ObligationStatus(row.status),
    )


# Mark an obligation casework opened met (or cancelled) and stage the event under its subject.
stage_fulfilled = partial(obligationsview.stage_met, service=SERVICE)
stage_cancelled = partial(obligationsview.stage_cancelled, service=SERVICE)


def stage_opened(
    session: Session, row: CaseworkObligation, *, fields: dict[str, Any], now: datetime
) -> None:
    """Store an obligation casework opens and stage ObligationOpened under its subject."""
    session.add(row)
    stage(
        session,
        ObligationOpened(
            **fields,
            obligation_id=uuid.UUID(row.obligation_id),
            code=row.code,
            legal_basis=row.legal_basis,
            actor_agency_type=row.actor_agency_type,
            actor_agency_id=row.actor_agency_id,
            term=row.term,
            started_at=row.started_at,
            region=row.region,
        ),
        now=now,
        subject=ObligationOpened.subject(SERVICE),
    )
