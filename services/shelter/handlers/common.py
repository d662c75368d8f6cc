"""What shelter's handlers share: dependencies, errors, envelopes, and the obligation contract."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry import trace
from sqlalchemy import Engine
from sqlmodel import Session

from services.shelter import domain, repository
from services.shelter.tables import ShelterObligation, ShelterRecord, ShelterStay
from shared.clock import Clock
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.shelter import StayStepRecorded
from shared.crypto import FieldCipher
from shared.outbox import stage

SERVICE = "shelter"


class UnknownStay(LookupError):
    """No stay has this id (answered 404)."""


class UnknownReferral(LookupError):
    """No referral to this shelter has this id (answered 404)."""


@dataclass(frozen=True)
class Actor:
    """Who records a step: a person (by id) of an agency, with a role."""

    person_id: str
    agency_id: str
    agency_type: str
    region: str | None
    is_head: bool


@dataclass(frozen=True)
class Agency:
    """An agency of the directory, as the shelter needs it."""

    agency_id: str
    agency_type: str
    region: str | None
    active: bool = True
    names: tuple[tuple[str, str], ...] = ()

    def name(self, lang: str) -> str:
        """Return the agency's name in a language of the directory (kk, ru), or its id."""
        return dict(self.names).get(lang) or self.agency_id


@dataclass
class ShelterDeps:
    """What shelter's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer
    cipher: FieldCipher
    agencies: dict[str, Agency] = field(default_factory=dict)

    def social_protection_of(self, region: str) -> Agency | None:
        """Return the region's social protection body, the authorised body of p.25, p.30-31."""
        found = sorted(
            (
                agency
                for agency in self.agencies.values()
                if agency.agency_type == "social_protection"
                and agency.region == region
                and agency.active
            ),
            key=lambda agency: agency.agency_id,
        )
        return found[0] if found else None


def load_directory(path: Path) -> dict[str, Agency]:
    """Read the shipped agency directory (ids, types, regions)."""
    entries = json.loads(path.read_text(encoding="utf-8"))["agencies"]
    return {
        entry["agency_id"]: Agency(
            entry["agency_id"],
            entry["agency_type"],
            entry.get("region"),
            entry.get("active", True),
            tuple(
                (lang, entry[f"name_{lang}"]) for lang in ("kk", "ru") if entry.get(f"name_{lang}")
            ),
        )
        for entry in entries
    }


def envelope(
    now: datetime,
    *,
    case_id: str | None,
    correlation_id: str,
    agency_id: str | None,
    cause: Event | None = None,
) -> dict[str, Any]:
    """Return the envelope of an event the shelter stages now."""
    return {
        "case_id": uuid.UUID(case_id) if case_id else None,
        "correlation_id": uuid.UUID(correlation_id),
        "causation_id": cause.event_id if cause is not None else None,
        "producer": SERVICE,
        "occurred_at": now,
        "agency_id": agency_id,
    }


def fields_of(stay: ShelterStay, now: datetime, *, agency_id: str | None = None) -> dict[str, Any]:
    """Return the envelope of an event about a stay."""
    return envelope(
        now,
        case_id=stay.case_id,
        correlation_id=stay.correlation_id,
        agency_id=agency_id or stay.shelter_agency_id,
    )


def open_row(
    session: Session,
    stay: ShelterStay,
    code: str,
    *,
    started_at: datetime,
    now: datetime,
    actor_agency_id: str | None = None,
    term: str | None = None,
    nth: int = 1,
) -> ShelterObligation:
    """Open a row of the stay (its clause and term from the domain) and stage ObligationOpened."""
    row = domain.ROWS[code]
    term = term or row.term
    actor = actor_agency_id or stay.shelter_agency_id
    assert stay.case_id is not None, "obligations belong to a case"
    obligation_id = domain.obligation_id(
        stay.case_id, code, actor, stay.stay_id, stay.admission, nth
    )
    existing = repository.get_obligation(session, obligation_id=obligation_id)
    if existing is not None:
        return existing
    obligation = ShelterObligation(
        obligation_id=obligation_id,
        stay_id=stay.stay_id,
        case_id=stay.case_id,
        code=code,
        legal_basis=row.legal_basis,
        actor_agency_type=row.actor_type,
        actor_agency_id=actor,
        region=stay.region,
        term=term,
        started_at=started_at,
    )
    session.add(obligation)
    stage(
        session,
        ObligationOpened(
            **fields_of(stay, now),
            obligation_id=uuid.UUID(obligation_id),
            code=code,
            legal_basis=row.legal_basis,
            actor_agency_type=row.actor_type,
            actor_agency_id=actor,
            term=term,
            started_at=started_at,
            region=stay.region,
        ),
        now=now,
        subject=ObligationOpened.subject(SERVICE),
    )
    return obligation


def meet_row(
    session: Session, stay: ShelterStay, code: str, *, met_at: datetime, by: str, now: datetime
) -> ShelterObligation | None:
    """Meet the stay's open row of that code (if open) and stage ObligationFulfilled."""
    obligation = repository.open_obligation(session, stay_id=stay.stay_id, code=code)
    if obligation is None:
        return None
    if not obligation.term.startswith("recurring:"):
        # A recurring row (S15) stays open here: deadlines meets one occurrence and counts
        # the next from the plan's start; the series ends when the stay does.
        obligation.status = domain.ObligationStatus.MET.value
    obligation.met_at = met_at
    obligation.met_by_agency_id = by
    session.add(obligation)
    stage(
        session,
        ObligationFulfilled(
            **fields_of(stay, now, agency_id=by),
            obligation_id=uuid.UUID(obligation.obligation_id),
            code=code,
            met_at=met_at,
            met_by_agency_id=by,
            met_by_platform=False,
        ),
        now=now,
        subject=ObligationFulfilled.subject(SERVICE),
    )
    return obligation


def cancel_row(
    session: Session,
    stay: ShelterStay,
    obligation: ShelterObligation,
    *,
    reason: str,
    now: datetime,
) -> None:
    """Withdraw one obligation with a reason citing the clause; stage ObligationCancelled."""
    obligation.status = domain.ObligationStatus.CANCELLED.value
    obligation.cancel_reason = reason[:200]
    session.add(obligation)
    stage(
        session,
        ObligationCancelled(
            **fields_of(stay, now),
            obligation_id=uuid.UUID(obligation.obligation_id),
            code=obligation.code,
            reason=reason,
        ),
        now=now,
        subject=ObligationCancelled.subject(SERVICE),
    )


def cancel_open_rows(session: Session, stay: ShelterStay, *, reason: str, now: datetime) -> int:
    """Withdraw every open row of the stay with a reason citing the clause; return how many."""
    rows = repository.open_obligations(session, stay_id=stay.stay_id)
    for obligation in rows:
        cancel_row(session, stay, obligation, reason=reason, now=now)
    return len(rows)


def record_step(
    session: Session,
    stay: ShelterStay,
    *,
    kind: str,
    legal_basis: str,
    at: datetime,
    actor: Actor,
    now: datetime,
    cipher: FieldCipher,
    outcome: str | None = None,
    details: dict[str, Any] | None = None,
) -> ShelterRecord:
    """Store a step of the stay (details encrypted) and stage StayStepRecorded."""
    record = ShelterRecord(
        record_id=str(uuid.uuid4()),
        stay_id=stay.stay_id,
        kind=kind,
        outcome=outcome,
        legal_basis=legal_basis,
        at=at,
        recorded_at=now,
        person_id=actor.person_id,
        agency_id=actor.agency_id,
        details=cipher.encrypt(
            json.dumps(details, ensure_ascii=False, default=str) if details else None,
            field=f"record.{kind}",
        ),
    )
    session.add(record)
    stay.updated_at = now
    session.add(stay)
    stage(
        session,
        StayStepRecorded(
            **fields_of(stay, now, agency_id=actor.agency_id),
            stay_id=uuid.UUID(stay.stay_id),
            shelter_agency_id=stay.shelter_agency_id,
            step=kind,
            outcome=outcome,
            status=stay.status,
            legal_basis=legal_basis,
            at=at,
        ),
        now=now,
    )
    return record
