"""Arrival at a shelter (S1 at the shelter's end, p.25-27): a personal application or a referral
routing delivered; children admitted with the parent; what intake must be told."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.handlers.capacity import stage_capacity
from services.shelter.handlers.common import (
    SERVICE,
    Actor,
    ShelterDeps,
    UnknownReferral,
    envelope,
    fields_of,
    open_row,
)
from services.shelter.tables import IntakeReport, ShelterReferral, ShelterStay
from shared.contracts.routing import ReferralIssued
from shared.contracts.shelter import StayOpened
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage

ARRIVAL_BASIS = "Standard 14701, p.25"
CHILD_BASIS = "Standard 14701, p.26-27"
# The rows a stay opens on arrival: screening and general services at once, identification
# within one working day of the application (p.13, p.15, p.28).
ARRIVAL_ROWS = ("S2", "S3", "S4")


@dataclass(frozen=True)
class ArrivalIn:
    """An arrival as the shelter records it: how, when, who (personal data), the children."""

    arrival: domain.Arrival
    arrived_at: datetime
    person: dict[str, Any]
    children: list[dict[str, Any]] = field(default_factory=list)
    consent: bool = False
    referral_id: str | None = None
    refuses_police: bool = False


def check_shelter(actor: Actor) -> None:
    """Refuse anyone but a shelter's staff."""
    if actor.agency_type != "shelter":
        raise domain.NotActor("only a shelter records arrivals and its own steps")


def _referral_of(session: Session, data: ArrivalIn, actor: Actor) -> ShelterReferral:
    assert data.referral_id is not None
    referral = repository.get_referral(session, referral_id=data.referral_id)
    if referral is None or referral.shelter_agency_id != actor.agency_id:
        raise UnknownReferral(data.referral_id)
    if referral.stay_id is not None:
        raise domain.IllegalStep("the person this referral sent has arrived already")
    if data.arrived_at < referral.issued_at:
        raise domain.InvalidInput("arrived_at", "is before the referral was issued")
    return referral


def _report(stay: ShelterStay, person: dict[str, Any], children: list[dict[str, Any]]) -> dict:
    """Return the report intake's public contract takes (reporter.agency_type = shelter)."""
    subject = {
        key: person[key] for key in ("full_name", "birth_date", "iin", "sex") if person.get(key)
    }
    kids = [
        {key: child[key] for key in ("full_name", "birth_date", "iin", "sex") if child.get(key)}
        for child in children
    ]
    body: dict[str, Any] = {
        "reporter": {
            "agency_type": "shelter",
            "agency_id": stay.shelter_agency_id,
            "region": stay.region,
        },
        "channel": "application",
        "received_at": stay.arrived_at.isoformat(),
        "subject": {"kind": "adult", **subject},
        "concerns": ["domestic_violence"],
        "refuses_police": stay.refuses_police,
    }
    if kids:
        # Children with a parent are minors who witnessed violence (Rules 38874 p.1, p.4, p.8):
        # intake opens their cases, routing sends their notices.
        body["children"] = kids
        body["accompanying_minors"] = len(kids)
    return body


def owe_report(
    session: Session,
    stay: ShelterStay,
    *,
    reason: str,
    children: list[dict[str, Any]],
    deps: ShelterDeps,
    now: datetime,
    child_stay_ids: Sequence[str] = (),
) -> IntakeReport:
    """Keep a report for intake, sent after the commit and retried until intake takes it."""
    person = json.loads(deps.cipher.decrypt(stay.personal, field="stay.personal") or "{}")
    report = IntakeReport(
        report_key=str(uuid.uuid4()),
        stay_id=stay.stay_id,
        reason=reason,
        created_at=now,
        child_stay_ids=json.dumps(list(child_stay_ids)) if child_stay_ids else None,
        payload=deps.cipher.encrypt(
            json.dumps(_report(stay, person, children), ensure_ascii=False),
            field="intake_report.payload",
        )
        or "",
    )
    session.add(report)
    return report


def open_stay(data: ArrivalIn, actor: Actor, *, deps: ShelterDeps) -> ShelterStay:
    """Admit a person (and the children with them) and open S2, S3 and S4 from the arrival."""
    check_shelter(actor)
    now = deps.clock.now()
    if actor.region is None:
        raise domain.NotActor("a shelter's token names its region")
    domain.check_moment(data.arrived_at, field="arrived_at", after=data.arrived_at, now=now)
    if data.arrival is domain.Arrival.APPLICATION and not data.consent:
        # Appendix 4: the application gives consent to collecting and processing personal data.
        raise domain.InvalidInput("consent", "the application (Appendix 4) needs consent")
    if data.arrival is domain.Arrival.REFERRAL and data.referral_id is None:
        raise domain.InvalidInput("referral_id", "an arrival by referral names the referral")
    with unit_of_work(deps.engine) as session:
        referral = None
        if data.arrival is domain.Arrival.REFERRAL:
            referral = _referral_of(session, data, actor)
        case_id = referral.case_id if referral else str(uuid.uuid4())
        stay = ShelterStay(
            stay_id=str(uuid.uuid4()),
            case_id=case_id,
            correlation_id=referral.correlation_id if referral else case_id,
            shelter_agency_id=actor.agency_id,
            region=actor.region,
            arrival=data.arrival.value,
            referral_id=referral.referral_id if referral else None,
            referred_by_type=referral.from_agency_type if referral else None,
            referred_by_id=referral.from_agency_id if referral else None,
            status=domain.StayStatus.ARRIVED.value,
            arrived_at=data.arrived_at,
            consent_at=now if data.consent else None,
            refuses_police=data.refuses_police,
            updated_at=now,
            personal=_sealed(data.person, deps),
        )
        session.add(stay)
        if referral is not None:
            referral.stay_id = stay.stay_id
            session.add(referral)
        _announce(session, stay, now=now, basis=ARRIVAL_BASIS)
        for code in ARRIVAL_ROWS:
            open_row(session, stay, code, started_at=data.arrived_at, now=now)
        kids: list[str] = []
        for child in data.children:
            kid = ShelterStay(
                stay_id=str(uuid.uuid4()),
                correlation_id=stay.correlation_id,
                shelter_agency_id=actor.agency_id,
                region=actor.region,
                arrival=data.arrival.value,
                parent_stay_id=stay.stay_id,
                minor=True,
                status=domain.StayStatus.ARRIVED.value,
                arrived_at=data.arrived_at,
                updated_at=now,
                personal=_sealed(child, deps),
            )
            session.add(kid)
            kids.append(kid.stay_id)
            _announce(session, kid, now=now, basis=CHILD_BASIS)
        if data.children or data.refuses_police:
            reason = "children" if data.children else "refuses_police"
            owe_report(
                session,
                stay,
                reason=reason,
                children=data.children,
                deps=deps,
                now=now,
                child_stay_ids=kids,
            )
        stage_capacity(session, agency_id=stay.shelter_agency_id, region=stay.region, now=now)
        session.commit()
        return stay


def _sealed(person: dict[str, Any], deps: ShelterDeps) -> str:
    text = json.dumps(person, ensure_ascii=False, default=str)
    return deps.cipher.encrypt(text, field="stay.personal") or ""


def _announce(session: Session, stay: ShelterStay, *, now: datetime, basis: str) -> None:
    stage(
        session,
        StayOpened(
            **fields_of(stay, now),
            stay_id=uuid.UUID(stay.stay_id),
            shelter_agency_id=stay.shelter_agency_id,
            region=stay.region,
            arrival=stay.arrival,
            referral_id=uuid.UUID(stay.referral_id) if stay.referral_id else None,
            referred_by_type=stay.referred_by_type,
            parent_stay_id=uuid.UUID(stay.parent_stay_id) if stay.parent_stay_id else None,
            minor=stay.minor,
            admission=stay.admission,
            arrived_at=stay.arrived_at,
            legal_basis=basis,
        ),
        now=now,
    )


def on_referral_issued(event: ReferralIssued, *, deps: ShelterDeps) -> bool:
    """Keep a referral delivered to a shelter (S1 by p.25's referrers, F8 by a family centre)."""
    if event.to_agency_type != "shelter" or event.case_id is None:
        return False
    if event.from_agency_type not in domain.ARRIVAL_REFERRERS:
        return False
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer=f"{SERVICE}-referrals", event_id=str(event.event_id), now=now
        ):
            return False
        if repository.get_referral(session, referral_id=str(event.referral_id)) is None:
            session.add(
                ShelterReferral(
                    referral_id=str(event.referral_id),
                    case_id=str(event.case_id),
                    correlation_id=str(event.correlation_id),
                    code=event.code,
                    from_agency_type=event.from_agency_type,
                    from_agency_id=event.from_agency_id,
                    shelter_agency_id=event.to_agency_id,
                    region=event.region,
                    issued_at=event.issued_at,
                )
            )
        session.commit()
        return True


__all__ = [
    "ArrivalIn",
    "check_shelter",
    "envelope",
    "on_referral_issued",
    "open_stay",
    "owe_report",
]
