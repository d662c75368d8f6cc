"""What the family centre's handlers share: dependencies, errors, envelopes, obligations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from opentelemetry import trace
from sqlalchemy import Engine
from sqlmodel import Session

from services.familycentre import domain, repository
from services.familycentre.tables import CentreObligation
from shared import obligationsview
from shared.clock import Clock
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationOpened
from shared.crypto import FieldCipher
from shared.outbox import stage

SERVICE = "familycentre"


class UnknownAppeal(LookupError):
    """No appeal has this id at the caller's centre (answered 404)."""


class UnknownPlan(LookupError):
    """No plan has this id (answered 404)."""


class UnknownStay(LookupError):
    """No stay has this id (answered 404)."""


class UnknownGroup(LookupError):
    """No mobile group has this id at the centre (answered 404)."""


class UnknownAgency(LookupError):
    """The directory has no active agency of this id (answered 422 by the route)."""


@dataclass(frozen=True)
class Actor:
    """Who records a step: a person (by id) of an agency, with a role."""

    person_id: str
    agency_id: str
    agency_type: str
    region: str | None
    is_head: bool


@dataclass
class CentreDeps:
    """What the centre's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer
    cipher: FieldCipher


def envelope(
    now: datetime, *, cause: Event | None = None, case_id: str, correlation_id: str
) -> dict[str, Any]:
    """Return the envelope of an event the centre stages now."""
    fields: dict[str, Any]
    if cause is not None:
        fields = cause.follow()
    else:
        fields = {"case_id": uuid.UUID(case_id), "correlation_id": uuid.UUID(correlation_id)}
    return {**fields, "producer": SERVICE, "occurred_at": now}


def require_centre(actor: Actor) -> None:
    """Refuse anyone but a family support centre's staff."""
    if actor.agency_type != domain.CENTRE:
        raise domain.NotActor("only a family support centre records this")


def require_head(actor: Actor) -> None:
    """Refuse anyone but the centre's head (p.17: the head approves)."""
    require_centre(actor)
    if not actor.is_head:
        raise domain.NotActor("only the centre's head approves (p.17)")


def open_row(
    session: Session,
    spec: domain.RowSpec,
    *,
    case_id: str,
    correlation_id: str,
    actor_type: str,
    actor_id: str,
    region: str | None,
    started_at: datetime,
    fields: dict[str, Any],
    now: datetime,
    detail: str = "",
    target_type: str | None = None,
    plan_id: str | None = None,
    line_id: str | None = None,
) -> CentreObligation:
    """Open an obligation under the centre's subject, once (its id is derived)."""
    obligation_id = domain.obligation_id(case_id, spec.code, actor_id, detail)
    found = repository.get_obligation(session, obligation_id=obligation_id)
    if found is not None:
        return found
    row = CentreObligation(
        obligation_id=obligation_id,
        case_id=case_id,
        correlation_id=correlation_id,
        producer=SERVICE,
        code=spec.code,
        legal_basis=spec.legal_basis,
        actor_agency_type=actor_type,
        actor_agency_id=actor_id,
        target_agency_type=target_type,
        region=region,
        term=spec.term,
        started_at=started_at,
        plan_id=plan_id,
        line_id=line_id,
    )
    session.add(row)
    stage(
        session,
        ObligationOpened(
            **fields,
            obligation_id=uuid.UUID(obligation_id),
            code=spec.code,
            legal_basis=spec.legal_basis,
            actor_agency_type=actor_type,
            actor_agency_id=actor_id,
            target_agency_type=target_type,
            term=spec.term,
            started_at=started_at,
            region=region,
        ),
        now=now,
        subject=ObligationOpened.subject(SERVICE),
    )
    return row


def meet(
    session: Session,
    row: CentreObligation,
    *,
    met_at: datetime,
    by_agency_id: str,
    fields: dict[str, Any],
    now: datetime,
) -> None:
    """Mark an obligation met and stage ObligationFulfilled under the centre's subject."""
    if row.status != "open":
        raise domain.IllegalTransition(f"{row.code} is {row.status} already")
    obligationsview.stage_met(
        session,
        row,
        service=SERVICE,
        met_at=met_at,
        by_agency_id=by_agency_id,
        fields=fields,
        now=now,
    )


# Mark an obligation cancelled and stage ObligationCancelled under the centre's subject.
cancel = partial(obligationsview.stage_cancelled, service=SERVICE)


def open_of(session: Session, *, case_id: str, code: str) -> CentreObligation | None:
    """Return the open obligation of a row on a case, whoever opened it (the centre, routing)."""
    for row in repository.obligations_of_case(session, case_id=case_id):
        if row.code == code and row.status == "open" and row.plan_id is None:
            return row
    return None


def row_of_appeal(session: Session, appeal: Any, code: str) -> CentreObligation | None:
    """Return the obligation of a row the centre opened for this appeal (F1-F5)."""
    return repository.get_obligation(
        session,
        obligation_id=domain.obligation_id(
            appeal.case_id, code, appeal.centre_agency_id, appeal.appeal_id
        ),
    )
