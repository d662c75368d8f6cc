"""The individual work plan (F5, p.15-19) and the emergency response plan (F7, p.22).

The rules are `shared.plans`' (kinds FAMILY_WORK and EMERGENCY_RESPONSE); here a plan is loaded,
changed, stored encrypted, and what its approval and ending mean is staged: the work plan's
first approval meets F5 and opens F6 (it ends on a ground of p.19); each line a state body or
organisation carries becomes that body's obligation, delivered to it by routing; the ending
meets F6 and withdraws what is left.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from services.familycentre import domain, records, repository
from services.familycentre.domain import Stage
from services.familycentre.handlers.appeals import held_appeal
from services.familycentre.handlers.common import (
    Actor,
    CentreDeps,
    UnknownPlan,
    cancel,
    envelope,
    meet,
    open_row,
    require_centre,
    require_head,
    row_of_appeal,
)
from services.familycentre.tables import CentrePlan
from shared.clock import ALMATY
from shared.contracts.familycentre import (
    AgencyPlanLineReport,
    CentreDelivery,
    PlanApproved,
    PlanEnded,
)
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.plans import (
    EMERGENCY_RESPONSE,
    FAMILY_WORK,
    LineStatus,
    Plan,
    PlanInvalid,
    PlanLine,
    PlanLocked,
)

log = logging.getLogger(__name__)


def _directory(session: Session) -> Callable[[str], bool]:
    def known(agency_id: str) -> bool:
        agency = repository.get_agency(session, agency_id=agency_id)
        return agency is not None and agency.active

    return known


def _store(session: Session, row: CentrePlan, plan: Plan, deps: CentreDeps, now: datetime) -> None:
    current = plan.current
    row.version = current.number
    row.status = "ended" if plan.ending else current.status.value
    row.approved_at = current.approval.at if current.approval else row.approved_at
    row.ended_ground = plan.ending.ground if plan.ending else None
    row.updated_at = now
    row.document = records.seal_plan(deps.cipher, plan)
    session.add(row)


def _load(
    session: Session, plan_id: str, actor: Actor, deps: CentreDeps
) -> tuple[CentrePlan, Plan]:
    row = repository.get_plan(session, plan_id=plan_id)
    if row is None or row.centre_agency_id != actor.agency_id:
        raise UnknownPlan(plan_id)
    return row, records.open_plan(deps.cipher, row.document)


def line_term(started_at: datetime, due_on: date) -> str:
    """Return the term that ends at 24:00 of a line's due day (Almaty), in calendar days."""
    start_day = started_at.astimezone(ALMATY).date()
    # Counting starts the day after the trigger (shared.calendar): at least one day.
    return f"calendar_days:{max((due_on - start_day).days, 1)}"


def create_plan(
    appeal_id: str,
    *,
    plan_id: str,
    period_start: date,
    period_end: date,
    specialists: tuple[str, ...],
    actor: Actor,
    deps: CentreDeps,
) -> tuple[CentrePlan, Plan]:
    """Draft the individual work plan of an appeal whose needs are determined (p.13.3, p.15)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        if appeal.stage != Stage.NEEDS_DETERMINED.value:
            raise domain.IllegalTransition("a work plan follows the needs (F4, p.13.3)")
        if any(
            p.kind == FAMILY_WORK.code
            for p in repository.plans_of_appeal(session, appeal_id=appeal_id)
        ):
            raise domain.IllegalTransition("the appeal has a work plan: revise it")
        for index, role in enumerate(specialists):
            if role not in FAMILY_WORK.specialist_roles:
                raise domain.InvalidInput(f"specialists.{index}", "is not a specialist of p.15")
        plan = Plan.draft(
            plan_id,
            FAMILY_WORK,
            appeal.case_id,
            period_start=period_start,
            period_end=period_end,
            specialists=specialists,
        )
        row = CentrePlan(
            plan_id=plan_id,
            case_id=appeal.case_id,
            appeal_id=appeal_id,
            centre_agency_id=appeal.centre_agency_id,
            kind=FAMILY_WORK.code,
            version=1,
            status="draft",
            updated_at=now,
            document="",
        )
        _store(session, row, plan, deps, now)
        session.commit()
        return row, plan


def draft_emergency_plan(
    session: Session,
    *,
    appeal_id: str,
    case_id: str,
    centre: str,
    start: date,
    deps: CentreDeps,
    now: datetime,
) -> CentrePlan:
    """Draft the emergency response plan the mobile group draws up on a threat (p.22)."""
    plan_id = domain.derived_id("emergency", appeal_id)
    found = repository.get_plan(session, plan_id=plan_id)
    if found is not None:
        return found
    # p.22 sets no period: a month to start with, which the centre edits in the draft.
    plan = Plan.draft(
        plan_id,
        EMERGENCY_RESPONSE,
        case_id,
        period_start=start,
        period_end=start + timedelta(days=30),
    )
    row = CentrePlan(
        plan_id=plan_id,
        case_id=case_id,
        appeal_id=appeal_id,
        centre_agency_id=centre,
        kind=EMERGENCY_RESPONSE.code,
        version=1,
        status="draft",
        updated_at=now,
        document="",
    )
    _store(session, row, plan, deps, now)
    return row


def change_plan(
    plan_id: str,
    change: Callable[[Plan, Callable[[str], bool]], Plan],
    *,
    actor: Actor,
    deps: CentreDeps,
) -> tuple[CentrePlan, Plan]:
    """Apply a draft change (a line, a sign-off, the period) the plan model allows."""
    require_centre(actor)
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row, plan = _load(session, plan_id, actor, deps)
        plan = change(plan, _directory(session))
        _store(session, row, plan, deps, now)
        session.commit()
        return row, plan


def put_line(
    plan_id: str, line: PlanLine, *, actor: Actor, deps: CentreDeps
) -> tuple[CentrePlan, Plan]:
    """Add or replace a line of the draft (p.16: each with its term)."""

    def change(plan: Plan, agencies: Callable[[str], bool]) -> Plan:
        if plan.current.line(line.line_id) is not None:
            return plan.replace_line(line, agencies=agencies)
        return plan.add_line(line, agencies=agencies)

    return change_plan(plan_id, change, actor=actor, deps=deps)


def _deliver_lines(
    session: Session,
    row: CentrePlan,
    plan: Plan,
    *,
    fields: dict[str, Any],
    region: str,
    now: datetime,
) -> None:
    """Give each line an organisation carries to it as its obligation; routing delivers it."""
    emergency = plan.kind.code == EMERGENCY_RESPONSE.code
    spec_code, basis, what = (
        ("F7", domain.MEASURE_BASIS, "emergency_measure")
        if emergency
        else ("F5", domain.PLAN_LINE_BASIS, "plan_line")
    )
    current = {line.line_id for line in plan.lines()}
    for obligation in repository.obligations_of_plan(session, plan_id=row.plan_id):
        if obligation.line_id not in current and obligation.status == "open":
            cancel(
                session,
                obligation,
                reason="line removed in a revision (p.17)",
                fields=fields,
                now=now,
            )
    for line in plan.lines():
        if line.responsible is None or line.responsible == row.centre_agency_id:
            continue
        agency = repository.get_agency(session, agency_id=line.responsible)
        assert agency is not None  # the plan model checked it against the directory
        spec = domain.RowSpec(spec_code, basis, line_term(now, line.due_on))
        obligation = open_row(
            session,
            spec,
            case_id=row.case_id,
            correlation_id=str(fields["correlation_id"]),
            actor_type=agency.agency_type,
            actor_id=agency.agency_id,
            region=agency.region or region,
            started_at=now,
            fields=fields,
            now=now,
            detail=f"{row.plan_id}|{line.line_id}",
            plan_id=row.plan_id,
            line_id=line.line_id,
        )
        if obligation.started_at != now:
            continue  # delivered with an earlier version
        stage(
            session,
            CentreDelivery(
                **fields,
                delivery_id=uuid.UUID(domain.derived_id("line", obligation.obligation_id)),
                what=what,
                code=spec_code,
                legal_basis=basis,
                obligation_id=uuid.UUID(obligation.obligation_id),
                from_agency_id=row.centre_agency_id,
                to_agency_id=agency.agency_id,
                region=agency.region or region,
                due_on=line.due_on,
            ),
            now=now,
        )


def approve_plan(plan_id: str, *, actor: Actor, deps: CentreDeps) -> tuple[CentrePlan, Plan]:
    """The head approves the draft (p.17; signed by the employee and the person first)."""
    require_head(actor)
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row, plan = _load(session, plan_id, actor, deps)
        appeal = held_appeal(session, row.appeal_id, actor)
        first = plan.in_force is None
        plan = plan.approve(by=actor.person_id, at=now, agencies=_directory(session))
        _store(session, row, plan, deps, now)
        fields = envelope(now, case_id=row.case_id, correlation_id=appeal.correlation_id)
        if row.kind == FAMILY_WORK.code and first:
            f5 = row_of_appeal(session, appeal, "F5")
            if f5 is not None and f5.status == "open":
                meet(
                    session,
                    f5,
                    met_at=now,
                    by_agency_id=row.centre_agency_id,
                    fields=fields,
                    now=now,
                )
            open_row(
                session,
                domain.F6,
                case_id=row.case_id,
                correlation_id=appeal.correlation_id,
                actor_type=domain.CENTRE,
                actor_id=row.centre_agency_id,
                region=appeal.region,
                started_at=now,
                fields=fields,
                now=now,
                detail=row.plan_id,
            )
        _deliver_lines(session, row, plan, fields=fields, region=appeal.region, now=now)
        stage(
            session,
            PlanApproved(
                **fields,
                plan_id=uuid.UUID(plan_id),
                kind=row.kind,
                version=plan.current.number,
                centre_agency_id=row.centre_agency_id,
                approved_at=now,
                legal_basis=plan.kind.legal_basis,
            ),
            now=now,
        )
        session.commit()
        return row, plan


def revise_plan(
    plan_id: str, *, reason: str, actor: Actor, deps: CentreDeps
) -> tuple[CentrePlan, Plan]:
    """Open the next version for revision (p.17: "қайта қаралады және түзетіледі")."""
    return change_plan(
        plan_id,
        lambda plan, _agencies: plan.revise(reason=reason, at=deps.clock.now()),
        actor=actor,
        deps=deps,
    )


def record_outcome(
    plan_id: str,
    line_id: str,
    *,
    status: LineStatus,
    done_on: date | None,
    result: str | None,
    actor: Actor,
    deps: CentreDeps,
    event_id: str | None = None,
) -> tuple[CentrePlan, Plan] | None:
    """A line reported done or not done, by its responsible organisation or the centre.

    Over NATS (`event_id` given) a redelivered report changes nothing and answers None.
    """
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if event_id is not None and not claim(
            session, consumer="familycentre-plan_line_reported", event_id=event_id, now=now
        ):
            return None
        row = repository.get_plan(session, plan_id=plan_id)
        if row is None:
            raise UnknownPlan(plan_id)
        plan = records.open_plan(deps.cipher, row.document)
        line = next((each for each in plan.lines() if each.line_id == line_id), None)
        if line is None:
            raise PlanInvalid("line_id", "is not a line of the plan in force", line_id)
        if actor.agency_id not in (row.centre_agency_id, line.responsible):
            raise UnknownPlan(plan_id)  # an organisation sees only its own lines
        today = now.astimezone(ALMATY).date()
        plan = plan.record_outcome(
            line_id,
            status,
            done_on=done_on,
            result=result,
            today=today,
            reported_by=actor.agency_id,
        )
        _store(session, row, plan, deps, now)
        fields = envelope(now, case_id=row.case_id, correlation_id=row.case_id)
        appeal = repository.get_appeal(session, appeal_id=row.appeal_id)
        if appeal is not None:
            fields = envelope(now, case_id=row.case_id, correlation_id=appeal.correlation_id)
        for obligation in repository.obligations_of_line(session, plan_id=plan_id, line_id=line_id):
            if obligation.status != "open":
                continue
            if status is LineStatus.DONE:
                meet(
                    session,
                    obligation,
                    met_at=now,
                    by_agency_id=actor.agency_id,
                    fields=fields,
                    now=now,
                )
            else:
                cancel(session, obligation, reason="reported not done", fields=fields, now=now)
        session.commit()
        return row, plan


def on_agency_line_report(
    event: AgencyPlanLineReport, *, subject_agency_id: str, deps: CentreDeps
) -> None:
    """Record a line an organisation reported on its own subject (the subject names it)."""
    with unit_of_work(deps.engine) as session:
        agency = repository.get_agency(session, agency_id=subject_agency_id)
        actor = Actor(
            person_id=event.person_id,
            agency_id=subject_agency_id,
            agency_type=agency.agency_type if agency else "",
            region=agency.region if agency else None,
            is_head=False,
        )
    status = LineStatus(event.status)
    result = f"not done: {event.reason}" if status is LineStatus.NOT_DONE else None
    try:
        record_outcome(
            str(event.plan_id),
            event.line_id,
            status=status,
            done_on=event.done_on,
            result=result,
            actor=actor,
            deps=deps,
            event_id=str(event.event_id),
        )
    except (UnknownPlan, PlanInvalid, PlanLocked) as refused:
        # Nothing changed; a report that cannot apply is not retried (ids and codes only).
        log.warning(
            "plan line report refused: agency=%s plan=%s reason=%s",
            subject_agency_id,
            event.plan_id,
            type(refused).__name__,
        )


def end_plan(
    plan_id: str, *, ground: str, ended_on: date, note: str | None, actor: Actor, deps: CentreDeps
) -> tuple[CentrePlan, Plan]:
    """End the plan on a ground of p.19 (F6); what its lines still owe is withdrawn."""
    require_centre(actor)
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row, plan = _load(session, plan_id, actor, deps)
        appeal = held_appeal(session, row.appeal_id, actor)
        today = now.astimezone(ALMATY).date()
        plan = plan.end(
            ground=ground, ended_on=ended_on, by=actor.person_id, note=note, today=today
        )
        _store(session, row, plan, deps, now)
        fields = envelope(now, case_id=row.case_id, correlation_id=appeal.correlation_id)
        for obligation in repository.obligations_of_plan(session, plan_id=plan_id):
            if obligation.status == "open":
                cancel(session, obligation, reason=f"plan ended: {ground}", fields=fields, now=now)
        f6 = repository.get_obligation(
            session,
            obligation_id=domain.obligation_id(row.case_id, "F6", row.centre_agency_id, plan_id),
        )
        if f6 is not None and f6.status == "open":
            meet(session, f6, met_at=now, by_agency_id=row.centre_agency_id, fields=fields, now=now)
        if row.kind == FAMILY_WORK.code:
            appeal.stage = Stage.CLOSED.value
            session.add(appeal)
        stage(
            session,
            PlanEnded(
                **fields,
                plan_id=uuid.UUID(plan_id),
                ground=ground,
                ended_on=ended_on,
                legal_basis=plan.kind.legal_basis
                if row.kind != FAMILY_WORK.code
                else domain.F6.legal_basis,
            ),
            now=now,
        )
        session.commit()
        return row, plan


def read_plan(plan_id: str, *, actor: Actor, deps: CentreDeps) -> tuple[CentrePlan, Plan]:
    """Return a plan: whole to its centre, only its own lines to a responsible organisation."""
    with unit_of_work(deps.engine) as session:
        row = repository.get_plan(session, plan_id=plan_id)
        if row is None:
            raise UnknownPlan(plan_id)
        plan = records.open_plan(deps.cipher, row.document)
        # Nothing is committed here: keep the row readable after the session rolls back.
        session.expunge(row)
        if actor.agency_id == row.centre_agency_id:
            return row, plan
        own = plan.lines_for(actor.agency_id)
        if not own:
            raise UnknownPlan(plan_id)
        return row, replace(plan, versions=(replace(plan.version(), lines=own),))


__all__ = [
    "PlanLocked",
    "approve_plan",
    "change_plan",
    "create_plan",
    "draft_emergency_plan",
    "end_plan",
    "put_line",
    "read_plan",
    "record_outcome",
    "revise_plan",
]
