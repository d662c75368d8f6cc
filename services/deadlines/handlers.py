"""Deadlines' handlers: load, ask the domain, stage events in the outbox, commit."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from sqlalchemy import Engine

from services.deadlines import domain, repository
from services.deadlines.tables import Obligation
from shared.calendar import Term, WorkingCalendar
from shared.clock import Clock
from shared.contracts.deadlines import ObligationMet, ObligationScheduled
from shared.contracts.obligations import ObligationFulfilled, ObligationOpened
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE


class UnknownObligation(LookupError):
    """An event names an obligation not (yet) recorded: retried, then dead-lettered."""


@dataclass
class DeadlinesDeps:
    """What deadlines' handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    calendar: WorkingCalendar


def on_obligation_opened(event: ObligationOpened, *, deps: DeadlinesDeps) -> None:
    """Record an obligation with its due time counted in Kazakhstan working time."""
    now = deps.clock.now()
    due = deps.calendar.due_at(Term.parse(event.term), event.started_at)
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    span.set_attribute(AGENCY_TYPE, event.actor_agency_type)
    if event.actor_agency_id:
        span.set_attribute(AGENCY_ID, event.actor_agency_id)
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="deadlines-obligation_opened", event_id=str(event.event_id), now=now
        ):
            return
        if repository.get(session, obligation_id=str(event.obligation_id)) is not None:
            session.commit()
            return
        session.add(
            Obligation(
                obligation_id=str(event.obligation_id),
                case_id=str(event.case_id),
                code=event.code,
                legal_basis=event.legal_basis,
                actor_agency_type=event.actor_agency_type,
                actor_agency_id=event.actor_agency_id,
                target_agency_type=event.target_agency_type,
                target_agency_id=event.target_agency_id,
                region=event.region,
                term=event.term,
                started_at=event.started_at,
                due_at=due,
                status=domain.Status.OPEN.value,
                opened_by=event.producer or "unknown",
                opened_at=now,
            )
        )
        stage(
            session,
            ObligationScheduled(
                **event.follow(),
                occurred_at=now,
                producer="deadlines",
                obligation_id=event.obligation_id,
                code=event.code,
                legal_basis=event.legal_basis,
                actor_agency_type=event.actor_agency_type,
                actor_agency_id=event.actor_agency_id,
                due_at=due,
            ),
            now=now,
        )
        session.commit()


def on_obligation_fulfilled(event: ObligationFulfilled, *, deps: DeadlinesDeps) -> None:
    """Mark an obligation met, recording when, by whom, and whether it was on time."""
    now = deps.clock.now()
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    with unit_of_work(deps.engine) as session:
        if not claim(
            session,
            consumer="deadlines-obligation_fulfilled",
            event_id=str(event.event_id),
            now=now,
        ):
            return
        obligation = repository.get(session, obligation_id=str(event.obligation_id))
        if obligation is None:
            # Opened and fulfilled travel on separate consumers; wait for the opening.
            raise UnknownObligation(str(event.obligation_id))
        outcome = domain.meet(
            domain.Status(obligation.status), met_at=event.met_at, due_at=obligation.due_at
        )
        obligation.status = outcome.status.value
        obligation.on_time = outcome.on_time
        obligation.met_at = event.met_at
        obligation.met_by_agency_id = event.met_by_agency_id
        obligation.met_by_platform = event.met_by_platform
        session.add(obligation)
        stage(
            session,
            ObligationMet(
                **event.follow(),
                occurred_at=now,
                producer="deadlines",
                obligation_id=event.obligation_id,
                code=event.code,
                met_at=event.met_at,
                due_at=obligation.due_at,
                on_time=outcome.on_time,
                met_by_agency_id=event.met_by_agency_id,
                met_by_platform=event.met_by_platform,
            ),
            now=now,
        )
        session.commit()
