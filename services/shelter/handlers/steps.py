"""The steps of a stay before the contract: screening (S2), general services (S3),
identification (S4, S5 or S6), social protection's decision (S7, S8), a refusal to go to the
police (S12 through intake), and services stopped on a contraindication (p.36)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.domain import StayStatus
from services.shelter.handlers.arrival import check_shelter, owe_report
from services.shelter.handlers.capacity import OCCUPYING, stage_capacity
from services.shelter.handlers.common import (
    Actor,
    ShelterDeps,
    UnknownStay,
    cancel_open_rows,
    meet_row,
    open_row,
    record_step,
)
from services.shelter.tables import ShelterStay
from shared.db import is_postgres, unit_of_work

S = StayStatus


def _held(session: Session, stay_id: str, actor: Actor, deps: ShelterDeps) -> ShelterStay:
    stay = repository.get_stay(session, stay_id=stay_id, lock=is_postgres(deps.engine))
    if stay is None:
        raise UnknownStay(stay_id)
    return stay


def _own(session: Session, stay_id: str, actor: Actor, deps: ShelterDeps) -> ShelterStay:
    """Return a stay of the caller's shelter (another agency is told it does not exist)."""
    check_shelter(actor)
    stay = _held(session, stay_id, actor, deps)
    if stay.shelter_agency_id != actor.agency_id:
        raise UnknownStay(stay_id)
    if stay.minor:
        raise domain.IllegalStep("a child's stay follows the parent's: record steps there")
    return stay


def _step(
    stay_id: str,
    actor: Actor,
    deps: ShelterDeps,
    run: Callable[[Session, ShelterStay, datetime], None],
) -> ShelterStay:
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        stay = _own(session, stay_id, actor, deps)
        before = S(stay.status)
        run(session, stay, now)
        after = S(stay.status)
        if after is not before:
            for child in repository.children_of(session, stay_id=stay.stay_id):
                # The children stay and leave with the parent (p.26-27).
                child.status = after.value
                child.updated_at = now
                session.add(child)
            if (before in OCCUPYING) != (after in OCCUPYING):
                stage_capacity(
                    session, agency_id=stay.shelter_agency_id, region=stay.region, now=now
                )
        session.commit()
        return stay


def screen(
    stay_id: str, contraindications: list[str], at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Screen against p.13: none found admits; one found refuses and refers to healthcare."""
    found = domain.check_contraindications(contraindications)

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.ARRIVED}, "screening")
        domain.check_moment(at, field="screened_at", after=stay.arrived_at, now=now)
        meet_row(session, stay, "S2", met_at=at, by=actor.agency_id, now=now)
        if found:
            # p.13: refused and sent to the healthcare organisation; admitted after treatment.
            stay.status = S.REFERRED_TO_HEALTHCARE.value
            cancel_open_rows(
                session,
                stay,
                reason="refused on a contraindication (Standard 14701, p.13)",
                now=now,
            )
        else:
            stay.status = S.SCREENED.value
        record_step(
            session,
            stay,
            kind="screening",
            legal_basis=domain.ROWS["S2"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="referred_to_healthcare" if found else "admitted",
            details={"contraindications": list(found)},
        )

    return _step(stay_id, actor, deps, run)


def readmit(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Admit after treatment (p.13): the arrival rows open afresh from the return."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.REFERRED_TO_HEALTHCARE}, "re-admission")
        domain.check_moment(at, field="returned_at", after=stay.arrived_at, now=now)
        stay.admission += 1
        stay.status = S.ARRIVED.value
        for code in ("S2", "S3", "S4"):
            open_row(session, stay, code, started_at=at, now=now)
        record_step(
            session,
            stay,
            kind="readmission",
            legal_basis="Standard 14701, p.13",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="after_treatment",
        )

    return _step(stay_id, actor, deps, run)


def general_services(
    stay_id: str, services: list[str], at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """Record the general services of p.15 given; all four given meet S3."""
    items = domain.check_general_services(services)

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(
            S(stay.status),
            {S.SCREENED, S.RECOGNISED, S.SHEET_SENT, S.DECIDED, S.DECISION_RECEIVED},
            "general services (before a contract, p.15)",
        )
        domain.check_moment(at, field="given_at", after=stay.arrived_at, now=now)
        record_step(
            session,
            stay,
            kind="general_services",
            legal_basis=domain.ROWS["S3"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=None,
            details={"services": list(items)},
        )
        given = {
            item
            for record in repository.records_of(
                session, stay_id=stay.stay_id, kind="general_services"
            )
            for item in _items(record.details, deps)
        } | set(items)
        if given >= set(domain.GENERAL_SERVICES):
            meet_row(session, stay, "S3", met_at=at, by=actor.agency_id, now=now)

    return _step(stay_id, actor, deps, run)


def _items(details: str | None, deps: ShelterDeps) -> list[str]:
    text = deps.cipher.decrypt(details, field="record.general_services")
    return list(json.loads(text).get("services", [])) if text else []


@dataclass(frozen=True)
class SheetIn:
    """The assessment sheet of Appendix 5 from the identification interview (p.28-29)."""

    interviewed_at: datetime
    criteria: dict[str, bool]
    conclusion: domain.Conclusion
    participants: dict[str, str]
    signatures: list[domain.Signature]
    # The signatories' names and positions as written on the sheet: personal data, encrypted.
    signatory_names: dict[str, str]


def identify(stay_id: str, sheet: SheetIn, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Store the signed sheet: S4 met; recognised opens S5, not recognised refuses (S6)."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.SCREENED}, "identification (after screening, p.13)")
        domain.check_moment(
            sheet.interviewed_at, field="interviewed_at", after=stay.arrived_at, now=now
        )
        today = now.date()
        for signature in sheet.signatures:
            if signature.signed_on > today:
                raise domain.InvalidInput(
                    f"signatures.{signature.role}.signed_on", "is in the future"
                )
        domain.check_sheet(
            sheet.criteria,
            sheet.conclusion,
            sheet.participants,
            sheet.signatures,
            interviewed_on=sheet.interviewed_at.date(),
        )
        at = sheet.interviewed_at
        meet_row(session, stay, "S4", met_at=at, by=actor.agency_id, now=now)
        status, opens = domain.met_by_identification(sheet.conclusion)
        stay.status = status.value
        for code in opens:
            open_row(session, stay, code, started_at=at, now=now)
        if status is S.NOT_RECOGNISED:
            # p.30: services are refused; the refusal is the act S6 asks for.
            meet_row(session, stay, "S6", met_at=at, by=actor.agency_id, now=now)
            cancel_open_rows(
                session, stay, reason="not recognised as a victim (Standard 14701, p.30)", now=now
            )
        record_step(
            session,
            stay,
            kind="identification",
            legal_basis=domain.ROWS["S4"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=sheet.conclusion.value,
            details={
                "criteria": sheet.criteria,
                "participants": sheet.participants,
                "signatures": [
                    {
                        "role": s.role,
                        "person_id": s.person_id,
                        "position": s.position,
                        "signed_on": s.signed_on.isoformat(),
                        "name": sheet.signatory_names.get(s.role),
                    }
                    for s in sheet.signatures
                ],
            },
        )

    return _step(stay_id, actor, deps, run)


def send_sheet(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Send the sheet and application to social protection (S5): S7 opens on that body."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), {S.RECOGNISED}, "sending the sheet (p.30)")
        identified = repository.records_of(session, stay_id=stay.stay_id, kind="identification")
        domain.check_moment(at, field="sent_at", after=identified[-1].at, now=now)
        body = deps.social_protection_of(stay.region)
        if body is None:
            raise domain.IllegalStep(
                f"the directory has no social protection body in {stay.region}"
            )
        meet_row(session, stay, "S5", met_at=at, by=actor.agency_id, now=now)
        stay.status = S.SHEET_SENT.value
        # p.31: the authorised body decides within three working days of receiving the sheet.
        open_row(session, stay, "S7", started_at=at, now=now, actor_agency_id=body.agency_id)
        record_step(
            session,
            stay,
            kind="sheet_sent",
            legal_basis=domain.ROWS["S5"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=body.agency_id,
        )

    return _step(stay_id, actor, deps, run)


def _authority(
    session: Session, stay_id: str, actor: Actor, code: str, deps: ShelterDeps
) -> ShelterStay:
    """Return a stay whose row `code` falls to the calling social protection body."""
    if actor.agency_type != "social_protection":
        raise domain.NotActor("only the social protection body decides (Standard 14701, p.31)")
    stay = _held(session, stay_id, actor, deps)
    row = repository.obligation_of_stay(session, stay_id=stay_id, code=code)
    if row is None or row.actor_agency_id != actor.agency_id:
        raise UnknownStay(stay_id)
    return stay


def decide(
    stay_id: str,
    decision: domain.Decision,
    at: datetime,
    number: str | None,
    actor: Actor,
    *,
    deps: ShelterDeps,
) -> ShelterStay:
    """Social protection records its decision (S7 met); S8 opens: send it to the shelter."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        stay = _authority(session, stay_id, actor, "S7", deps)
        domain.require(S(stay.status), {S.SHEET_SENT}, "a decision (after the sheet, p.31)")
        sent = repository.records_of(session, stay_id=stay.stay_id, kind="sheet_sent")
        domain.check_moment(at, field="decided_at", after=sent[-1].at, now=now)
        meet_row(session, stay, "S7", met_at=at, by=actor.agency_id, now=now)
        stay.status = S.DECIDED.value
        open_row(session, stay, "S8", started_at=at, now=now, actor_agency_id=actor.agency_id)
        record_step(
            session,
            stay,
            kind="decision",
            legal_basis=domain.ROWS["S7"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=decision.value,
            details={"number": number} if number else None,
        )
        session.commit()
        return stay


def send_decision(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Social protection sends its decision (S8 met): granted opens S9 on the shelter."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        stay = _authority(session, stay_id, actor, "S8", deps)
        domain.require(S(stay.status), {S.DECIDED}, "sending the decision (p.31)")
        decided = repository.records_of(session, stay_id=stay.stay_id, kind="decision")[-1]
        domain.check_moment(at, field="sent_at", after=decided.at, now=now)
        meet_row(session, stay, "S8", met_at=at, by=actor.agency_id, now=now)
        if decided.outcome == domain.Decision.GRANTED.value:
            stay.status = S.DECISION_RECEIVED.value
            # p.32: the contract within one working day of receiving the decision.
            open_row(session, stay, "S9", started_at=at, now=now)
        else:
            stay.status = S.REFUSED_BY_AUTHORITY.value
            cancel_open_rows(
                session, stay, reason="services refused by social protection (p.31)", now=now
            )
        record_step(
            session,
            stay,
            kind="decision_sent",
            legal_basis=domain.ROWS["S8"].legal_basis,
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome=decided.outcome,
        )
        session.commit()
        return stay


def stop_services(
    stay_id: str, contraindications: list[str], at: datetime, actor: Actor, *, deps: ShelterDeps
) -> ShelterStay:
    """A contraindication found during the stay stops services (p.36); open rows withdrawn."""
    found = domain.check_contraindications(contraindications)
    if not found:
        raise domain.InvalidInput("contraindications", "p.36 stops services on one of p.13")

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        domain.require(S(stay.status), domain.IN_SERVICE, "stopping services (p.36)")
        domain.check_moment(at, field="found_at", after=stay.arrived_at, now=now)
        stay.status = S.STOPPED.value
        cancel_open_rows(
            session, stay, reason="services stopped on a contraindication (p.36)", now=now
        )
        record_step(
            session,
            stay,
            kind="services_stopped",
            legal_basis="Standard 14701, p.36, p.13",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="referred_to_healthcare",
            details={"contraindications": list(found)},
        )

    return _step(stay_id, actor, deps, run)


def police_refusal(stay_id: str, at: datetime, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """The person refuses to apply to the police: report to intake so routing opens S12 (p.35)."""

    def run(session: Session, stay: ShelterStay, now: datetime) -> None:
        if S(stay.status) in domain.ENDED:
            raise domain.IllegalStep(f"the stay has ended ({stay.status})")
        if stay.refuses_police:
            raise domain.IllegalStep("the refusal is recorded already")
        domain.check_moment(at, field="refused_at", after=stay.arrived_at, now=now)
        stay.refuses_police = True
        owe_report(session, stay, reason="refuses_police", children=[], deps=deps, now=now)
        record_step(
            session,
            stay,
            kind="police_refusal",
            legal_basis="Standard 14701, p.35",
            at=at,
            actor=actor,
            now=now,
            cipher=deps.cipher,
            outcome="refuses_police",
        )

    return _step(stay_id, actor, deps, run)
