"""Agencies record their work on obligations, with proof, over HTTP or NATS; heads approve."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from opentelemetry import trace
from sqlmodel import Session

from services.casework import domain, repository
from services.casework.handlers.common import (
    SERVICE,
    Actor,
    CaseworkDeps,
    UnknownAction,
    UnknownObligation,
    duty_of,
    envelope,
    stage_fulfilled,
)
from services.casework.handlers.plans import record_line_outcome
from services.casework.tables import CaseworkAction, CaseworkObligation
from shared.contracts.casework import (
    ActionOutcome,
    AgencyObligationAction,
    ObligationActionApproved,
    ObligationActionRecorded,
    ObligationActionRejected,
)
from shared.contracts.envelope import agency_subject
from shared.db import is_postgres, unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, CASE_ID, OBLIGATION_CODE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """What an agency reports: when, what came of it, what was done, and the proof."""

    done_at: datetime
    outcome: ActionOutcome
    summary: str | None
    evidence: Mapping[str, str]


def _record(
    session: Session,
    obligation: CaseworkObligation,
    work: Work,
    actor: Actor,
    *,
    action_id: str,
    via: str,
    deps: CaseworkDeps,
    now: datetime,
) -> CaseworkAction:
    # Traced under its row: ids, codes and the clause, never what the person wrote.
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, obligation.case_id)
    span.set_attribute(OBLIGATION_CODE, obligation.code)
    span.set_attribute(AGENCY_ID, actor.agency_id)
    span.set_attribute("qorgau.legal_basis", obligation.legal_basis)
    span.set_attribute("qorgau.obligation_id", obligation.obligation_id)
    duty = duty_of(obligation)
    case = repository.get_case(session, case_id=obligation.case_id)
    domain.check_action(
        duty,
        agency_id=actor.agency_id,
        agency_type=actor.agency_type,
        agency_region=actor.region,
        done_at=work.done_at,
        now=now,
        case_closed=case is not None and case.status == domain.CaseStatus.CLOSED.value,
    )
    if work.outcome is ActionOutcome.DONE:
        domain.check_evidence(obligation.code, work.evidence, done_at=work.done_at)
    if obligation.plan_line_id is not None:
        # The line's outcome on the plan (Appendix 2: date done, result) is the same report.
        record_line_outcome(
            session,
            obligation,
            done=work.outcome is ActionOutcome.DONE,
            done_at=work.done_at,
            result=work.summary,
            agency_id=actor.agency_id,
            deps=deps,
            now=now,
        )
    status = domain.action_status(
        obligation.code, by_head=actor.is_head, plan_line=obligation.plan_line_id is not None
    )
    cipher = deps.cipher
    action = CaseworkAction(
        action_id=action_id,
        obligation_id=obligation.obligation_id,
        case_id=obligation.case_id,
        code=obligation.code,
        agency_id=actor.agency_id,
        person_id=actor.person_id,
        role="head" if actor.is_head else "caseworker",
        done_at=work.done_at,
        recorded_at=now,
        outcome=work.outcome.value,
        summary=cipher.encrypt(work.summary, field="action.summary"),
        evidence=cipher.encrypt(json.dumps(dict(work.evidence)), field="action.evidence"),
        status=status.value,
        via=via,
    )
    session.add(action)
    fields = envelope(
        now,
        case_id=obligation.case_id,
        correlation_id=obligation.correlation_id,
        agency_id=actor.agency_id,
    )
    stage(
        session,
        ObligationActionRecorded(
            **fields,
            action_id=uuid.UUID(action_id),
            obligation_id=uuid.UUID(obligation.obligation_id),
            code=obligation.code,
            legal_basis=obligation.legal_basis,
            acting_agency_id=actor.agency_id,
            done_at=work.done_at,
            outcome=work.outcome,
            status=status.value,
            via=via,
            evidence_kinds=tuple(sorted(work.evidence)),
        ),
        now=now,
    )
    if status is domain.ActionStatus.APPROVED and work.outcome is ActionOutcome.DONE:
        stage_fulfilled(
            session,
            obligation,
            met_at=work.done_at,
            by_agency_id=actor.agency_id,
            fields=fields,
            now=now,
        )
    session.flush()
    return action


def record_action(
    obligation_id: str, work: Work, actor: Actor, *, deps: CaseworkDeps
) -> CaseworkAction:
    """Record an agency's work on its obligation (over HTTP); a final one meets it."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        obligation = repository.get_obligation(
            session, obligation_id=obligation_id, lock=is_postgres(deps.engine)
        )
        if obligation is None:
            raise UnknownObligation(obligation_id)
        action = _record(
            session,
            obligation,
            work,
            actor,
            action_id=str(uuid.uuid4()),
            via="http",
            deps=deps,
            now=now,
        )
        session.commit()
        return action


def approve_action(action_id: str, actor: Actor, *, deps: CaseworkDeps) -> CaseworkAction:
    """The head approves a caseworker's draft: the obligation is met from the action's time."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        action = repository.get_action(session, action_id=action_id, lock=is_postgres(deps.engine))
        if action is None:
            raise UnknownAction(action_id)
        if action.agency_id != actor.agency_id:
            raise domain.NotActor("a head approves only the actions of the own agency")
        if not actor.is_head:
            raise domain.NotActor("only the head approves an action")
        obligation = repository.get_obligation(session, obligation_id=action.obligation_id)
        if obligation is None:
            raise UnknownObligation(action.obligation_id)
        case = repository.get_case(session, case_id=action.case_id)
        domain.check_approval(
            domain.ActionStatus(action.status),
            duty_of(obligation),
            case_closed=case is not None and case.status == domain.CaseStatus.CLOSED.value,
        )
        action.status = domain.ActionStatus.APPROVED.value
        action.approved_by = actor.person_id
        action.approved_at = now
        session.add(action)
        fields = envelope(
            now,
            case_id=obligation.case_id,
            correlation_id=obligation.correlation_id,
            agency_id=actor.agency_id,
        )
        stage(
            session,
            ObligationActionApproved(
                **fields,
                action_id=uuid.UUID(action.action_id),
                obligation_id=uuid.UUID(obligation.obligation_id),
                code=obligation.code,
                acting_agency_id=action.agency_id,
                approved_at=now,
            ),
            now=now,
        )
        if action.outcome == ActionOutcome.DONE.value:
            stage_fulfilled(
                session,
                obligation,
                met_at=action.done_at,
                by_agency_id=action.agency_id,
                fields=fields,
                now=now,
            )
        session.commit()
        return action


def on_agency_action(
    event: AgencyObligationAction, *, subject_agency_id: str, deps: CaseworkDeps
) -> None:
    """Record an action an agency published on its own subject; refuse it back if it cannot be."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="casework-obligation_action", event_id=str(event.event_id), now=now
        ):
            return
        agency = repository.get_agency(session, agency_id=subject_agency_id)
        obligation = repository.get_obligation(
            session, obligation_id=str(event.obligation_id), lock=is_postgres(deps.engine)
        )
        actor = Actor(
            person_id=event.person_id,
            agency_id=subject_agency_id,
            agency_type=agency.agency_type if agency else "",
            region=agency.region if agency else None,
            # An agency's system speaks for the agency; the head's approval is given over HTTP.
            is_head=False,
        )
        # Over NATS a line not done says why by a code, which is what the plan records.
        result = f"not done: {event.reason.value}" if event.reason else None
        work = Work(event.done_at, event.outcome, result, event.evidence)
        problem: tuple[str, str | None, str] | None = None
        if obligation is None:
            problem = ("unknown_obligation", None, "no such obligation")
        else:
            # Every refusal is raised before anything is added: nothing to undo.
            try:
                _record(
                    session,
                    obligation,
                    work,
                    actor,
                    action_id=domain.action_id_of(event.event_id),
                    via="nats",
                    deps=deps,
                    now=now,
                )
            except domain.InvalidInput as error:
                problem = ("invalid", error.field, error.message)
            except domain.NotActor as error:
                problem = ("not_actor", None, str(error))
            except domain.IllegalTransition as error:
                problem = ("illegal_transition", None, str(error))
        if problem is not None:
            _reject(session, event, subject_agency_id, problem, obligation, now=now)
        session.commit()


def _reject(
    session: Session,
    event: AgencyObligationAction,
    agency_id: str,
    problem: tuple[str, str | None, str],
    obligation: CaseworkObligation | None,
    *,
    now: datetime,
) -> None:
    code, field, message = problem
    log.warning("action over NATS refused: agency=%s problem=%s", agency_id, code)
    rejected = ObligationActionRejected(
        **envelope(
            now,
            cause=event,
            agency_id=agency_id,
        )
        | {"case_id": uuid.UUID(obligation.case_id) if obligation else event.case_id},
        obligation_id=event.obligation_id,
        acting_agency_id=agency_id,
        problem=code,
        field=field,
        message=message,
    )
    stage(session, rejected, now=now)
    # The agency hears of it on its own subject, as it hears of its referrals.
    subject = agency_subject(agency_id, ObligationActionRejected.NAME)
    stage(session, rejected, now=now, subject=subject)


__all__ = ["SERVICE", "Actor", "Work", "approve_action", "on_agency_action", "record_action"]
