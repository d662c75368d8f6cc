"""The contract (S9, Appendix 6) and what it opens (S10, S13), and the end of a stay by the
head's order (p.37-40)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.domain import StayStatus
from services.shelter.handlers.care import contract_term, end_plan
from services.shelter.handlers.common import (
    Actor,
    ShelterDeps,
    cancel_open_rows,
    meet_row,
    open_row,
    record_step,
)
from services.shelter.handlers.steps import _step
from services.shelter.tables import ShelterStay
from shared.clock import ALMATY

S = StayStatus


def sign_contract(
    stay_id: str, signed_at: datetime, number: str | None, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Sign the contract (S9 met): S10 (six months) and S13 (needs within 3 days) open."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(
            S(stay.status), {S.DECISION_RECEIVED}, "a contract (after the decision, p.32)"
        )
        s3 = repository.obligation_of_stay(session, stay_id=stay.stay_id, code="S3")
        if s3 is None or s3.status != domain.ObligationStatus.MET.value:
            # p.15: the general services come before any contract.
            raise domain.IllegalStep("the general services of p.15 are not recorded yet")
        received = repository.records_of(session, stay_id=stay.stay_id, kind="decision_sent")
        domain.check_moment(signed_at, field="signed_at", after=received[-1].at, now=now)
        meet_row(session, stay, "S9", met_at=signed_at, by=actor.agency_id, now=now)
        stay.status = S.CONTRACTED.value
        for code in domain.CONTRACT_ROWS:
            open_row(session, stay, code, started_at=signed_at, now=now)
        record_step(
            session,
            stay,
            kind="contract",
            legal_basis=domain.ROWS["S9"].legal_basis,
            at=signed_at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="signed",
            details={"number": number} if number else None,
        )

    return _step(stay_id, actor, deps, run)


def end_stay(
    stay_id: str,
    ground: domain.Ground,
    at: datetime,
    returned: list[str],
    actor: Actor,
    *,
    violations: int | None = None,
    absent_hours: float | None = None,
    order_number: str | None = None,
    deps: ShelterDeps,
) -> ShelterStay:
    """End a stay by the head's order (p.38) on a ground of p.37 or p.40; what was kept returns."""
    if not actor.is_head:
        raise domain.NotActor("a stay ends by the head's order (Standard 14701, p.38)")
    domain.check_ground(ground, violations=violations, absent_hours=absent_hours)
    items = domain.check_returned(returned)

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), domain.IN_SERVICE, "ending a stay (p.38)")
        domain.check_moment(at, field="ended_at", after=stay.arrived_at, now=now)
        stay.status = S.ENDED.value
        # The contract's term (S10) is over when the stay ends, whatever the ground.
        meet_row(session, stay, "S10", met_at=at, by=actor.agency_id, now=now)
        basis = domain.GROUND_BASIS[ground]
        end_plan(session, stay, domain.PLAN_END_GROUND[ground], at, actor, deps=deps, now=now)
        cancel_open_rows(session, stay, reason=f"stay ended: {ground.value} ({basis})", now=now)
        record_step(
            session,
            stay,
            kind="departure",
            legal_basis=f"{basis}; p.38-39",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=ground.value,
            details={
                "returned": list(items),
                "violations": violations,
                "absent_hours": absent_hours,
                "order_number": order_number,
            },
        )

    return _step(stay_id, actor, deps, run)


def readmit_at_once(
    stay_id: str, reason: str, at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Re-admit at once a person expelled for an absence they had a good reason for (p.37.2)."""
    if reason not in domain.GOOD_REASONS:
        # Without one of p.37.2's reasons the person is re-admitted on general terms: a new
        # application (chapter 4), not this step.
        raise domain.InvalidInput(
            "reason",
            "p.37.2 names police detention, a healthcare institution or a crime against them",
        )

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.ENDED}, "re-admission at once (p.37.2)")
        departures = repository.records_of(session, stay_id=stay.stay_id, kind="departure")
        if not departures or departures[-1].outcome != domain.Ground.ABSENCE.value:
            raise domain.IllegalStep("only a stay ended for an absence is re-admitted at once")
        domain.check_moment(at, field="returned_at", after=departures[-1].at, now=now)
        signed_at, months, nth = contract_term(session, stay)
        last_day = domain.contract_end(signed_at.astimezone(ALMATY).date(), extension_months=months)
        if last_day < at.astimezone(ALMATY).date():
            raise domain.IllegalStep("the contract has expired (p.33): a new application")
        stay.status = S.CONTRACTED.value
        # The contract runs on: its term counts again from the signing.
        open_row(
            session,
            stay,
            "S10",
            started_at=signed_at,
            now=now,
            term=f"months:{domain.CONTRACT_MONTHS + months}",
            nth=nth,
        )
        record_step(
            session,
            stay,
            kind="readmission_at_once",
            legal_basis="Standard 14701, p.37.2",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=reason,
        )

    return _step(stay_id, actor, deps, run)
