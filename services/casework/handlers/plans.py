"""The primary assessment (R19, Appendix 1) and the rehabilitation plan (R20, Appendix 2).

The rules are the domain's (`services.casework.assessment`, `shared.plans`); here they are
loaded, applied and stored encrypted, and what the approvals mean for obligations is staged:
the assessment's approval meets R19, the plan's meets R20 and gives each line of another
organisation to it as an obligation of its own (opened by casework, delivered by routing).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from services.casework import domain, records, repository
from services.casework.handlers.cases import fields_of, meet_row, open_case
from services.casework.handlers.common import (
    Actor,
    CaseworkDeps,
    envelope,
    stage_cancelled,
    stage_opened,
)
from services.casework.tables import (
    CaseworkCase,
    CaseworkObligation,
    PlanLineRow,
    PlanRow,
)
from shared.clock import ALMATY
from shared.contracts.casework import PlanApproved, PlanLineAssigned
from shared.db import unit_of_work
from shared.outbox import stage
from shared.plans import (
    EDUCATION_WORK,
    REHABILITATION,
    Consent,
    LineStatus,
    Plan,
    PlanInvalid,
    PlanLine,
    PlanLocked,
)


class UnknownPlan(LookupError):
    """No plan has this id (answered 404)."""


def _plan(session: Session, deps: CaseworkDeps, plan_id: str) -> tuple[PlanRow, Plan]:
    row = session.get(PlanRow, plan_id)
    if row is None:
        raise UnknownPlan(plan_id)
    return row, records.open_plan(deps.cipher, row.document)


def _store_plan(
    session: Session, row: PlanRow, plan: Plan, deps: CaseworkDeps, now: datetime
) -> PlanRow:
    current = plan.current
    row.version = current.number
    row.status = "ended" if plan.ending else current.status.value
    row.approved_at = current.approval.at if current.approval else row.approved_at
    row.updated_at = now
    row.document = records.seal_plan(deps.cipher, plan)
    session.add(row)
    return row


def _directory(session: Session) -> Callable[[str], bool]:
    def known(agency_id: str) -> bool:
        agency = repository.get_agency(session, agency_id=agency_id)
        return agency is not None and agency.active

    return known


# The plans casework keeps: the child-rights body's (R20) and the education organisation's
# work plan with the family and the child (Guide p.8.2, p.9).
KINDS = {REHABILITATION.code: REHABILITATION, EDUCATION_WORK.code: EDUCATION_WORK}
# Who draws up an education work plan: the school (kindergarten, college) or the education
# authority that holds a duty on the case (Guide p.8.2).
EDUCATION_TYPES = frozenset({"education_org", "education_authority"})


@dataclass(frozen=True)
class PlanDraft:
    """What starts a plan: its kind, its period and the assessment period it rests on."""

    plan_id: str
    period_start: date
    period_end: date
    assessed_from: date | None
    assessed_to: date | None
    remarks: str | None
    kind: str = REHABILITATION.code


def _owner_check(session: Session, case_id: str, kind: str, actor: Actor) -> None:
    """Refuse a plan's drafting to anyone but its owner, and any change on a closed case."""
    if kind == REHABILITATION.code:
        open_case(session, case_id, actor)
        return
    if actor.agency_type not in EDUCATION_TYPES:
        raise domain.NotActor("an education work plan is the education organisation's (p.9)")
    _known, related = repository.case_standing(session, case_id=case_id, agency_id=actor.agency_id)
    if not related:
        raise domain.NotActor("the agency holds no duty on this case")
    case = repository.get_case(session, case_id=case_id)
    if case is not None and case.status == domain.CaseStatus.CLOSED.value:
        raise domain.IllegalTransition("the case is closed: its records are kept as they are")


def _owned(session: Session, row: PlanRow, actor: Actor) -> None:
    if row.owner_agency_id != actor.agency_id:
        raise domain.NotActor("only the agency that drew up the plan changes it")
    _owner_check(session, row.case_id, row.kind, actor)


def create_plan(case_id: str, draft: PlanDraft, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """Start a plan of the case as a draft (one of each kind per case)."""
    now = deps.clock.now()
    kind = KINDS.get(draft.kind)
    if kind is None:
        raise domain.InvalidInput("kind", f"is one of {', '.join(sorted(KINDS))}")
    with unit_of_work(deps.engine) as session:
        _owner_check(session, case_id, kind.code, actor)
        if session.get(PlanRow, draft.plan_id) is not None:
            raise domain.IllegalTransition("a plan with this id exists already")
        if any(row.kind == kind.code for row in repository.plans_of_case(session, case_id=case_id)):
            raise domain.IllegalTransition(f"the case has a {kind.code} plan: revise it")
        plan = Plan.draft(
            draft.plan_id,
            kind,
            case_id,
            period_start=draft.period_start,
            period_end=draft.period_end,
            assessed_from=draft.assessed_from,
            assessed_to=draft.assessed_to,
            remarks=draft.remarks,
        )
        row = PlanRow(
            plan_id=plan.plan_id,
            case_id=case_id,
            kind=plan.kind.code,
            owner_agency_id=actor.agency_id,
            version=1,
            status="draft",
            updated_at=now,
            document="",
        )
        _store_plan(session, row, plan, deps, now)
        session.commit()
        return plan


def change_plan(
    plan_id: str,
    change: Callable[[Plan, Callable[[str], bool]], Plan],
    actor: Actor,
    *,
    deps: CaseworkDeps,
) -> Plan:
    """Apply one change to the plan's draft (a line, the consent, the period) and store it."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row, plan = _plan(session, deps, plan_id)
        _owned(session, row, actor)
        plan = change(plan, _directory(session))
        _store_plan(session, row, plan, deps, now)
        session.commit()
        return plan


def put_line(plan_id: str, line: PlanLine, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """Add a line to the draft, or replace the draft's line of that id."""

    def change(plan: Plan, agencies: Callable[[str], bool]) -> Plan:
        if plan.current.line(line.line_id) is None:
            return plan.add_line(line, agencies=agencies)
        return plan.replace_line(line, agencies=agencies)

    return change_plan(plan_id, change, actor, deps=deps)


def remove_line(plan_id: str, line_id: str, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """Remove a line from the draft."""
    return change_plan(plan_id, lambda plan, _: plan.remove_line(line_id), actor, deps=deps)


def record_consent(plan_id: str, consent: Consent, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """Record the parent's or representative's consent, or why it could not be had."""
    return change_plan(plan_id, lambda plan, _: plan.record_consent(consent), actor, deps=deps)


def revise_plan(plan_id: str, reason: str, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """Open the next version of the plan as a draft; the approved one stays in its history."""
    now = deps.clock.now()
    return change_plan(
        plan_id, lambda plan, _: plan.revise(reason=reason, at=now), actor, deps=deps
    )


def approve_plan(plan_id: str, actor: Actor, *, deps: CaseworkDeps) -> Plan:
    """The head approves the plan; a rehabilitation plan meets R20 and gives out its lines."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row, plan = _plan(session, deps, plan_id)
        _owned(session, row, actor)
        if not actor.is_head:
            raise domain.NotActor(f"only the head approves the plan ({plan.kind.legal_basis})")
        plan = plan.approve(by=actor.person_id, at=now, agencies=_directory(session))
        _store_plan(session, row, plan, deps, now)
        case = repository.get_case(session, case_id=row.case_id)
        given = 0
        if case is not None and plan.kind.code == REHABILITATION.code:
            fields = fields_of(case, actor, now)
            given = _give_lines(session, case, plan, fields=fields, now=now)
            meet_row(session, case, "R20", fields=fields, now=now)
        else:
            fields = envelope(now, case_id=row.case_id, agency_id=actor.agency_id)
        stage(
            session,
            PlanApproved(
                **fields,
                plan_id=uuid.UUID(plan.plan_id),
                kind=plan.kind.code,
                legal_basis=plan.kind.legal_basis,
                version=plan.current.number,
                owner_agency_id=row.owner_agency_id,
                approved_at=now,
                lines=len(plan.current.lines),
                lines_for_other_agencies=given,
            ),
            now=now,
        )
        session.commit()
        return plan


def _give_lines(
    session: Session, case: CaseworkCase, plan: Plan, *, fields: dict[str, Any], now: datetime
) -> int:
    """Open an obligation on each other organisation's line and hand it to routing to deliver.

    A line given before keeps its obligation (a revision opens nothing twice); a line a
    revision dropped has its obligation cancelled, with that reason.
    """
    version = plan.current
    kept = {line.line_id for line in version.lines}
    for old in repository.plan_lines_of_plan(session, plan_id=plan.plan_id):
        if old.line_id not in kept:
            obligation = repository.get_obligation(session, obligation_id=old.obligation_id)
            if obligation is not None and obligation.status == "open":
                reason = f"plan line removed by revision {version.number} (Appendix 2)"
                stage_cancelled(session, obligation, reason=reason, fields=fields, now=now)
    given = 0
    for line in version.lines:
        if line.responsible is None or line.responsible == case.body_agency_id:
            # The body's own lines are its work under R20 itself.
            continue
        agency = repository.get_agency(session, agency_id=line.responsible)
        assert agency is not None  # the plan's approval checked it against the directory
        given += 1
        if repository.get_plan_line(session, plan_id=plan.plan_id, line_id=line.line_id):
            continue
        obligation_id = domain.plan_line_obligation_id(case.case_id, line.line_id, agency.agency_id)
        stage_opened(
            session,
            CaseworkObligation(
                obligation_id=obligation_id,
                case_id=case.case_id,
                correlation_id=case.correlation_id,
                producer="casework",
                code=domain.PLAN_LINE_CODE,
                legal_basis=domain.PLAN_LINE_BASIS,
                actor_agency_type=agency.agency_type,
                actor_agency_id=agency.agency_id,
                region=case.region,
                term=domain.plan_line_term(now, line.due_on),
                started_at=now,
                plan_line_id=line.line_id,
            ),
            fields=fields,
            now=now,
        )
        session.add(
            PlanLineRow(
                plan_id=plan.plan_id,
                line_id=line.line_id,
                case_id=case.case_id,
                kind=line.kind,
                agency_id=agency.agency_id,
                agency_type=agency.agency_type,
                assigned_on=line.assigned_on,
                due_on=line.due_on,
                obligation_id=obligation_id,
            )
        )
        stage(
            session,
            PlanLineAssigned(
                **fields,
                plan_id=uuid.UUID(plan.plan_id),
                line_id=uuid.UUID(line.line_id)
                if _is_uuid(line.line_id)
                else uuid.uuid5(domain.IDS, f"{plan.plan_id}|{line.line_id}"),
                obligation_id=uuid.UUID(obligation_id),
                code=domain.PLAN_LINE_CODE,
                legal_basis=domain.PLAN_LINE_BASIS,
                kind=line.kind,
                from_agency_id=case.body_agency_id,
                to_agency_id=agency.agency_id,
                to_agency_type=agency.agency_type,
                region=case.region,
                due_on=line.due_on,
            ),
            now=now,
        )
    return given


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def record_line_outcome(
    session: Session,
    obligation: CaseworkObligation,
    *,
    done: bool,
    done_at: datetime,
    result: str | None,
    agency_id: str,
    deps: CaseworkDeps,
    now: datetime,
) -> None:
    """Record on the plan what the responsible organisation reported of its line."""
    line = repository.plan_line_of_obligation(session, obligation_id=obligation.obligation_id)
    if line is None:
        return
    row, plan = _plan(session, deps, line.plan_id)
    try:
        plan = plan.record_outcome(
            line.line_id,
            LineStatus.DONE if done else LineStatus.NOT_DONE,
            done_on=done_at.astimezone(ALMATY).date() if done else None,
            result=result,
            today=now.astimezone(ALMATY).date(),
            reported_by=agency_id,
        )
    except PlanLocked as error:
        raise domain.IllegalTransition(error.message) from None
    except PlanInvalid as error:
        # The action's own fields: the line's result is its summary, its done date done_at.
        field = {"result": "summary", "done_on": "done_at"}.get(error.field, error.field)
        raise domain.InvalidInput(field, error.message) from None
    _store_plan(session, row, plan, deps, now)


def read_plan(plan_id: str, *, deps: CaseworkDeps) -> tuple[str, str, Plan]:
    """Return a plan's case, its owner and the plan (the caller checks who sees what, audits)."""
    with unit_of_work(deps.engine) as session:
        row, plan = _plan(session, deps, plan_id)
        return row.case_id, row.owner_agency_id, plan


def plan_of_case(case_id: str, kind: str, *, deps: CaseworkDeps) -> str:
    """Return the id of the case's plan of that kind."""
    with unit_of_work(deps.engine) as session:
        for row in repository.plans_of_case(session, case_id=case_id):
            if row.kind == kind:
                return row.plan_id
        raise UnknownPlan(f"{kind} plan of case {case_id}")


def end_plans(
    session: Session, case: CaseworkCase, *, by: str, deps: CaseworkDeps, now: datetime
) -> None:
    """End the case's approved plan with the case (Appendix 2 ends with the case, p.8.10)."""
    for row in repository.plans_of_case(session, case_id=case.case_id):
        plan = records.open_plan(deps.cipher, row.document)
        if plan.ending is None and plan.in_force is not None:
            ended_on = max(now.astimezone(ALMATY).date(), plan.in_force.period_start)
            plan = plan.end(ground="case_closed", ended_on=ended_on, by=by)
            _store_plan(session, row, plan, deps, now)
