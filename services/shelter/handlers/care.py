"""Work under the contract: the registration card and its portal entry (S11), the needs
assessment (S13), the individual work plan on the shared plan model (S14) and its quarterly
monitoring (S15), suspension while in a healthcare institution and the extension of p.33."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.domain import StayStatus
from services.shelter.handlers.common import (
    Actor,
    ShelterDeps,
    cancel_row,
    meet_row,
    open_row,
    record_step,
)
from services.shelter.handlers.steps import _step
from services.shelter.tables import ShelterPlan, ShelterStay
from shared.clock import ALMATY
from shared.plans import (
    PLAN_KINDS,
    SHELTER_WORK,
    MonitoringEntry,
    Plan,
    PlanLine,
    PlanLocked,
    VersionStatus,
)

S = StayStatus
_PLAN = TypeAdapter(Plan)
PLAN_FIELD = "plan.document"
# The eight kinds of special social service of p.24, the needs assessment's vocabulary.
SERVICE_KINDS = tuple(kind.code for kind in SHELTER_WORK.line_kinds)


def _day(moment: datetime) -> date:
    return moment.astimezone(ALMATY).date()


def _contract(session: Session, stay: ShelterStay) -> tuple[datetime, int]:
    """Return when the contract was signed and by how many months it was extended."""
    signed = repository.records_of(session, stay_id=stay.stay_id, kind="contract")
    if not signed:
        raise domain.IllegalStep("no contract is signed yet (p.32)")
    extended = repository.records_of(session, stay_id=stay.stay_id, kind="extension")
    return signed[-1].at, sum(int(record.outcome or 0) for record in extended)


def contract_term(session: Session, stay: ShelterStay) -> tuple[datetime, int, int]:
    """Return the signing, the months of extension, and the next S10's ordinal (a new id)."""
    signed_at, months = _contract(session, stay)
    opened = [
        row
        for row in repository.obligations_of_stay(session, stay_id=stay.stay_id)
        if row.code == "S10"
    ]
    return signed_at, months, len(opened) + 1


def _under_contract(session: Session, stay: ShelterStay, now: datetime) -> None:
    """Refuse a step past the contract's term: the stay ends on expiry (p.33, p.40.2)."""
    signed_at, months = _contract(session, stay)
    if _day(now) > domain.contract_end(_day(signed_at), extension_months=months):
        raise domain.IllegalStep("the contract has expired (p.33): end the stay (p.40.2)")


def _once(session: Session, stay: ShelterStay, kind: str, what: str) -> None:
    if repository.records_of(session, stay_id=stay.stay_id, kind=kind):
        raise domain.IllegalStep(f"{what} is recorded already")


def fill_card(
    stay_id: str, card: dict[str, object], at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Fill the registration card (Appendix 7, p.34): S11 opens, the portal entry is due."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED}, "the registration card (p.34)")
        _under_contract(session, stay, now)
        _once(session, stay, "registration_card", "the registration card")
        domain.check_moment(at, field="filled_at", after=stay.arrived_at, now=now)
        # p.34: the specialist enters the card into the social services portal within one
        # working day; an integrator delivers the step's event to the portal.
        open_row(session, stay, "S11", started_at=at, now=now)
        record_step(
            session,
            stay,
            kind="registration_card",
            legal_basis="Standard 14701, p.34, Appendix 7",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="filled",
            details=dict(card),
        )

    return _step(stay_id, actor, deps, run)


def confirm_portal(
    stay_id: str, entered_at: datetime, reference: str, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Record the portal's confirmation of the card's entry: S11 met."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        if not repository.records_of(session, stay_id=stay.stay_id, kind="registration_card"):
            raise domain.IllegalStep("no registration card to enter yet (p.34)")
        _once(session, stay, "portal_entry", "the portal entry")
        domain.check_moment(entered_at, field="entered_at", after=stay.arrived_at, now=now)
        meet_row(session, stay, "S11", met_at=entered_at, by=actor.agency_id, now=now)
        record_step(
            session,
            stay,
            kind="portal_entry",
            legal_basis=domain.ROWS["S11"].legal_basis,
            at=entered_at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="confirmed",
            details={"reference": reference},
        )

    return _step(stay_id, actor, deps, run)


def assess_needs(
    stay_id: str, needs: list[str], at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Record the needs assessment (S13, p.14, p.16): S14 opens, the plan within 3 working days."""
    for kind in needs:
        if kind not in SERVICE_KINDS:
            raise domain.InvalidInput("needs", f"not a kind of special social service: {kind}")
    if not needs:
        raise domain.InvalidInput("needs", "name the kinds of service the person needs (p.24)")

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED}, "the needs assessment (p.16)")
        _under_contract(session, stay, now)
        _once(session, stay, "needs_assessment", "the needs assessment")
        domain.check_moment(at, field="assessed_at", after=stay.arrived_at, now=now)
        meet_row(session, stay, "S13", met_at=at, by=actor.agency_id, now=now)
        open_row(session, stay, "S14", started_at=at, now=now)
        record_step(
            session,
            stay,
            kind="needs_assessment",
            legal_basis=domain.ROWS["S13"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="assessed",
            details={"needs": list(dict.fromkeys(needs))},
        )

    return _step(stay_id, actor, deps, run)


@dataclass(frozen=True)
class PlanIn:
    """The plan's draft as the shelter writes it (Appendix 1)."""

    period_start: date
    period_end: date
    assessed_from: date
    assessed_to: date
    lines: list[PlanLine]


def _load(session: Session, stay: ShelterStay, deps: ShelterDeps) -> tuple[ShelterPlan, Plan]:
    row = repository.plan_of_stay(session, stay_id=stay.stay_id)
    if row is None:
        raise domain.IllegalStep("no work plan is drafted yet (p.17)")
    plan = _PLAN.validate_json(deps.cipher.decrypt(row.document, field=PLAN_FIELD) or "")
    return row, replace(plan, kind=PLAN_KINDS.get(plan.kind.code, plan.kind))


def plan_json(session: Session, stay: ShelterStay, deps: ShelterDeps) -> dict[str, Any] | None:
    """Return the stay's plan as JSON (every version, monitoring, ending), or None."""
    if repository.plan_of_stay(session, stay_id=stay.stay_id) is None:
        return None
    _, plan = _load(session, stay, deps)
    found: dict[str, Any] = _PLAN.dump_python(plan, mode="json")
    return found


def _store(
    session: Session, row: ShelterPlan, plan: Plan, deps: ShelterDeps, now: datetime
) -> None:
    current = plan.current
    row.version = current.number
    row.status = "ended" if plan.ending else current.status.value
    row.approved_at = current.approval.at if current.approval else row.approved_at
    row.updated_at = now
    row.document = deps.cipher.encrypt(_PLAN.dump_json(plan).decode(), field=PLAN_FIELD) or ""
    session.add(row)


def _known(deps: ShelterDeps) -> set[str]:
    return {agency_id for agency_id, agency in deps.agencies.items() if agency.active}


def save_plan(stay_id: str, draft: PlanIn, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Write the plan's draft (S14): never before the needs assessment (p.17)."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED}, "a work plan (p.17)")
        _under_contract(session, stay, now)
        if not repository.records_of(session, stay_id=stay.stay_id, kind="needs_assessment"):
            raise domain.IllegalStep("a plan comes after the needs assessment (p.17)")
        row = repository.plan_of_stay(session, stay_id=stay.stay_id)
        if row is None:
            plan = Plan.draft(
                str(uuid.uuid4()),
                SHELTER_WORK,
                stay.stay_id,
                period_start=draft.period_start,
                period_end=draft.period_end,
                assessed_from=draft.assessed_from,
                assessed_to=draft.assessed_to,
            )
            row = ShelterPlan(
                plan_id=plan.plan_id,
                stay_id=stay.stay_id,
                version=1,
                status="draft",
                updated_at=now,
                document="",
            )
        else:
            _, plan = _load(session, stay, deps)
            in_force = plan.in_force
            if (
                plan.current.status is not VersionStatus.DRAFT
                and in_force is not None
                and draft.period_start > in_force.period_end
            ):
                # p.17: the next plan, for the period after the last one's end.
                plan = plan.revise(reason="next plan (p.17)", at=now)
            plan = plan.edit(
                period_start=draft.period_start,
                period_end=draft.period_end,
                assessed_from=draft.assessed_from,
                assessed_to=draft.assessed_to,
            )
            for line in plan.current.lines:
                plan = plan.remove_line(line.line_id)
        for line in draft.lines:
            plan = plan.add_line(line, agencies=_known(deps))
        _store(session, row, plan, deps, now)
        stay.updated_at = now
        session.add(stay)

    return _step(stay_id, actor, deps, run)


def approve_plan(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """The head approves the plan (p.17): the first approval meets S14 and opens S15."""
    if not actor.is_head:
        raise domain.NotActor("the head approves the work plan (Standard 14701, p.17)")

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED}, "approving the plan (p.17)")
        _under_contract(session, stay, now)
        domain.check_moment(at, field="approved_at", after=stay.arrived_at, now=now)
        row, plan = _load(session, stay, deps)
        before = plan.in_force
        plan = plan.approve(by=actor.person_id, at=at, agencies=_known(deps))
        _store(session, row, plan, deps, now)
        approved = plan.in_force
        assert approved is not None
        if before is None:
            meet_row(session, stay, "S14", met_at=at, by=actor.agency_id, now=now)
            # p.21: monitored every quarter by the social work specialist from the plan's start.
            open_row(session, stay, "S15", started_at=at, now=now)
        elif approved.period_end > before.period_end:
            # p.17: the next plan, for the period after the last one's end, meets that row.
            meet_row(session, stay, "S14", met_at=at, by=actor.agency_id, now=now)
        if before is None or approved.period_end > before.period_end:
            _owe_next_plan(session, stay, approved.period_end, now=now)
        record_step(
            session,
            stay,
            kind="plan_approved",
            legal_basis=SHELTER_WORK.legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=f"version_{plan.current.number}",
        )

    return _step(stay_id, actor, deps, run)


def _owe_next_plan(session: Session, stay: ShelterStay, period_end: date, *, now: datetime) -> None:
    """Open S14 afresh for the next plan (p.17), where the plan ends before the contract does.

    p.17: the next plan is drawn up within one working day of the last one's end; the term runs
    from the first moment after the period (the next day, 00:00 in Almaty).
    """
    signed_at, months = _contract(session, stay)
    if period_end >= domain.contract_end(_day(signed_at), extension_months=months):
        return
    nth = 1 + sum(
        1
        for obligation in repository.obligations_of_stay(session, stay_id=stay.stay_id)
        if obligation.code == "S14"
    )
    ended = datetime.combine(period_end + timedelta(days=1), time(), tzinfo=ALMATY)
    open_row(session, stay, "S14", started_at=ended, now=now, term="working_days:1", nth=nth)


def monitor(
    stay_id: str, entry: MonitoringEntry, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Record a monitoring entry (Appendix 2): S15's quarter met; corrections open a revision."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED, S.SUSPENDED}, "monitoring (p.21)")
        _under_contract(session, stay, now)
        row, plan = _load(session, stay, deps)
        plan = plan.monitor(entry, today=_day(now))
        if entry.corrections:
            # p.19: the plan is corrected when the person's state changes.
            try:
                plan = plan.revise(reason="monitoring: " + ", ".join(entry.corrections), at=now)
            except PlanLocked:
                pass  # a revision is already open: the corrections go into it
        _store(session, row, plan, deps, now)
        meet_row(session, stay, "S15", met_at=now, by=actor.agency_id, now=now)
        record_step(
            session,
            stay,
            kind="monitoring",
            legal_basis=domain.ROWS["S15"].legal_basis,
            at=now,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=entry.state,
            details={"corrections": list(entry.corrections)},
        )

    return _step(stay_id, actor, deps, run)


def suspend(
    stay_id: str, at: datetime, inpatient: bool, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Suspend services while the recipient is in a healthcare institution (p.37)."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.CONTRACTED}, "suspending services (p.37)")
        domain.check_moment(at, field="suspended_at", after=stay.arrived_at, now=now)
        stay.status = S.SUSPENDED.value
        record_step(
            session,
            stay,
            kind="suspension",
            legal_basis="Standard 14701, p.37",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="inpatient" if inpatient else "healthcare",
        )

    return _step(stay_id, actor, deps, run)


def resume(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Resume services on the recipient's return from the healthcare institution."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.SUSPENDED}, "resuming services")
        _under_contract(session, stay, now)
        domain.check_moment(at, field="resumed_at", after=stay.arrived_at, now=now)
        stay.status = S.CONTRACTED.value
        record_step(
            session,
            stay,
            kind="resumption",
            legal_basis="Standard 14701, p.37",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="returned",
        )

    return _step(stay_id, actor, deps, run)


def extend(
    stay_id: str, months: int, at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Extend the contract while in inpatient care, by three months at most in all (p.33)."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        suspensions = repository.records_of(session, stay_id=stay.stay_id, kind="suspension")
        inpatient = (
            S(stay.status) is S.SUSPENDED
            and bool(suspensions)
            and suspensions[-1].outcome == "inpatient"
        )
        signed_at, already = _contract(session, stay)
        domain.check_moment(at, field="extended_at", after=signed_at, now=now)
        domain.check_extension(months=months, already=already, in_inpatient_care=inpatient)
        _under_contract(session, stay, now)
        s10 = repository.open_obligation(session, stay_id=stay.stay_id, code="S10")
        if s10 is not None:
            # The contract's term is replaced by the extended one, counted from the signing.
            reason = "contract extended while in inpatient care (Standard 14701, p.33)"
            cancel_row(session, stay, s10, reason=reason, now=now)
        total = already + months
        _, _, nth = contract_term(session, stay)
        open_row(
            session,
            stay,
            "S10",
            started_at=signed_at,
            now=now,
            term=f"months:{domain.CONTRACT_MONTHS + total}",
            nth=nth,
        )
        record_step(
            session,
            stay,
            kind="extension",
            legal_basis="Standard 14701, p.33",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=str(months),
        )

    return _step(stay_id, actor, deps, run)


def end_plan(
    session: Session,
    stay: ShelterStay,
    ground: str,
    at: datetime,
    actor: Actor,
    *,
    deps: ShelterDeps,
    now: datetime,
) -> None:
    """End the stay's plan in force with the stay (p.40); a plan never approved just stays."""
    row = repository.plan_of_stay(session, stay_id=stay.stay_id)
    if row is None:
        return
    _, plan = _load(session, stay, deps)
    if plan.in_force is None or plan.ending is not None:
        return
    ended_on = max(_day(at), plan.in_force.period_start)
    _store(session, row, plan.end(ground=ground, ended_on=ended_on, by=actor.person_id), deps, now)


__all__ = [
    "SERVICE_KINDS",
    "PlanIn",
    "approve_plan",
    "assess_needs",
    "confirm_portal",
    "contract_term",
    "end_plan",
    "extend",
    "fill_card",
    "monitor",
    "plan_json",
    "resume",
    "save_plan",
    "suspend",
]
