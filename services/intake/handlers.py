"""Intake's commands: load, ask the domain, stage events in the outbox, commit."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from opentelemetry import trace
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from services.intake import domain, repository
from services.intake.domain import Relation
from services.intake.tables import Case, Report, Subject
from shared import iin as iin_rules
from shared.access import Gatekeeper
from shared.agencies import AgencyType, is_region
from shared.auth import DRAFT, Principal
from shared.clock import ALMATY, Clock
from shared.consent import legal_basis_without_consent
from shared.contracts.intake import (
    Channel,
    Concern,
    Flags,
    ReportJoined,
    ReportReceived,
    Sign,
    SubjectKind,
)
from shared.contracts.obligations import ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.crypto import FieldCipher
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID

log = logging.getLogger(__name__)

NARRATIVE_LIMIT = 20_000


class ReporterIn(BaseModel):
    """Who reports: an agency type code, optionally its id, and its region."""

    model_config = ConfigDict(extra="forbid")

    agency_type: AgencyType
    agency_id: str | None = Field(default=None, max_length=80, pattern=r"^[a-z0-9_-]+$")
    region: str

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if not is_region(value):
            raise ValueError("unknown region: use an ISO 3166-2 code of Kazakhstan, e.g. KZ-75")
        return value


class SubjectIn(BaseModel):
    """The person the report is about (personal data: stays in intake, encrypted)."""

    model_config = ConfigDict(extra="forbid")

    kind: SubjectKind
    full_name: str | None = Field(default=None, min_length=1, max_length=300)
    birth_date: date | None = None
    iin: str | None = None
    sex: str | None = Field(default=None, pattern=r"^(male|female)$")
    address: str | None = Field(default=None, max_length=500)

    @field_validator("iin")
    @classmethod
    def _iin_check_digit(cls, value: str | None) -> str | None:
        if value is not None and not iin_rules.is_valid(value):
            raise ValueError("IIN must be 12 digits with a valid check digit")
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: date | None, info: ValidationInfo) -> date | None:
        now = (info.context or {}).get("now")
        if value is not None and now is not None:
            domain.check_birth_date(value, kind=info.data.get("kind", ""), on=now.date())
        return value


class ReportIn(BaseModel):
    """A report as the public contract (ARCHITECTURE.md) defines it."""

    model_config = ConfigDict(extra="forbid")

    reporter: ReporterIn
    channel: Channel
    received_at: AwareDatetime
    subject: SubjectIn
    concerns: list[Concern] = Field(min_length=1)
    signs: list[Sign] = Field(default_factory=list)
    life_threat: bool = False
    needs_medical_help: bool = False
    offence_signs: bool = False
    no_parental_care: bool = False
    child_removed: bool = False
    accompanying_minors: int = Field(default=0, ge=0, le=20)
    # The person refuses to apply to the police (Standard 14701 p.35).
    refuses_police: bool = False
    # When the child was removed from the parents (Guide p.12.2, p.12.4 run from it).
    child_removed_at: AwareDatetime | None = None
    narrative: str | None = Field(default=None, max_length=NARRATIVE_LIMIT)

    @field_validator("child_removed_at")
    @classmethod
    def _removed_not_future(
        cls, value: AwareDatetime | None, info: ValidationInfo
    ) -> AwareDatetime | None:
        now = (info.context or {}).get("now")
        if value is not None and now is not None and value > now:
            raise ValueError("is in the future")
        return value

    @field_validator("received_at")
    @classmethod
    def _not_future(cls, value: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        now = (info.context or {}).get("now")
        if now is not None:
            domain.check_received_at(value, now)
        return value

    def flags(self) -> Flags:
        """Return the facts that drive routing."""
        return Flags(
            life_threat=self.life_threat,
            needs_medical_help=self.needs_medical_help,
            offence_signs=self.offence_signs,
            no_parental_care=self.no_parental_care,
            child_removed=self.child_removed or self.child_removed_at is not None,
            accompanying_minors=self.accompanying_minors,
            refuses_police=self.refuses_police,
            child_removed_at=self.child_removed_at,
        )


@dataclass(frozen=True)
class Registered:
    """What intake answers: the case, the report, and whether it joined an open case."""

    case_id: str
    report_id: str
    case_number: str
    joined: bool


@dataclass
class IntakeDeps:
    """What intake's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    cipher: FieldCipher
    audit_key: bytes = b""
    wake_relay: Any = None

    def gate(self) -> Gatekeeper:
        """Return the gate that records refusals and reads in intake's audit log."""
        return Gatekeeper(self.engine, self.audit_key, self.clock)


def reporter_of(report: ReportIn, who: Principal, *, deps: IntakeDeps) -> ReportIn:
    """Return the report with the caller's agency as its reporter, or refuse a mismatch."""
    gate = deps.gate()
    gate.require_role(who, DRAFT, action="report.create", case_id=None)
    given = report.reporter
    if given.agency_id is not None and given.agency_id != who.agency_id:
        reason = "reporter.agency_id names another agency than the token's"
        raise gate.refuse(who, action="report.create", case_id=None, reason=reason)
    if given.agency_type.value != who.agency_type:
        reason = "reporter.agency_type differs from the token's agency type"
        raise gate.refuse(who, action="report.create", case_id=None, reason=reason)
    reporter = given.model_copy(update={"agency_id": who.agency_id})
    return report.model_copy(update={"reporter": reporter})


def _identity_hash(cipher: FieldCipher, report: ReportIn) -> str | None:
    subject = report.subject
    if not subject.full_name or not subject.birth_date:
        return None
    name = " ".join(subject.full_name.casefold().split())
    key = f"{name}|{subject.birth_date}|{report.reporter.region}"
    return cipher.lookup_hash(key, field="identity")


def register_report(report: ReportIn, *, deps: IntakeDeps) -> Registered:
    """Register a report: a new case, or a report joined to the person's open case.

    The reporter must be the caller's agency (`reporter_of`).
    """
    now = deps.clock.now()
    cipher = deps.cipher
    iin_hash = cipher.lookup_hash(report.subject.iin, field="iin") if report.subject.iin else None
    identity_hash = _identity_hash(cipher, report)
    report_id = str(uuid.uuid4())
    for _attempt in range(3):
        try:
            with unit_of_work(deps.engine) as session:
                by_iin, by_identity = repository.open_case_of(
                    session, iin_hash=iin_hash, identity_hash=identity_hash
                )
                joined = domain.case_to_join(
                    domain.OpenCase(by_iin) if by_iin else None,
                    domain.OpenCase(by_identity) if by_identity else None,
                )
                if joined is None:
                    case = _open_case(session, report, now=now)
                    _add_subject(session, case.case_id, report, cipher, iin_hash, identity_hash)
                else:
                    found = repository.get_case(session, case_id=joined.case_id)
                    if found is None:
                        raise LookupError(joined.case_id)
                    case = found
                _add_report(
                    session, case.case_id, report_id, report, cipher, now, joined is not None
                )
                if report.reporter.agency_id:
                    # The reporter relates to the case by reporting it.
                    repository.grant(
                        session,
                        case_id=case.case_id,
                        agency_id=report.reporter.agency_id,
                        relation=Relation.REPORTER,
                        source=f"report:{report_id}",
                        now=now,
                    )
                _stage_event(session, case.case_id, report_id, report, now, joined is not None)
                session.commit()
                break
        except IntegrityError:
            # Two first reports raced for the same case number: take the next one.
            continue
    else:
        raise RuntimeError("could not allocate a case number")
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, case.case_id)
    span.set_attribute(AGENCY_TYPE, report.reporter.agency_type.value)
    if report.reporter.agency_id:
        span.set_attribute(AGENCY_ID, report.reporter.agency_id)
    return Registered(case.case_id, report_id, case.case_number, joined is not None)


def _open_case(session: Any, report: ReportIn, *, now: Any) -> Case:
    region = report.reporter.region
    year = now.astimezone(ALMATY).year
    prefix = f"{region}-{year}-"
    number = repository.next_case_number(session, region=region, year=year)
    case = Case(
        case_id=str(uuid.uuid4()),
        case_number=f"{prefix}{number:06d}",
        region=region,
        subject_kind=report.subject.kind.value,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    return case


def _add_subject(
    session: Any,
    case_id: str,
    report: ReportIn,
    cipher: FieldCipher,
    iin_hash: str | None,
    identity_hash: str | None,
) -> None:
    subject = report.subject
    birth = subject.birth_date.isoformat() if subject.birth_date else None
    session.add(
        Subject(
            subject_id=str(uuid.uuid4()),
            case_id=case_id,
            kind=subject.kind.value,
            full_name=cipher.encrypt(subject.full_name, field="full_name"),
            birth_date=cipher.encrypt(birth, field="birth_date"),
            iin=cipher.encrypt(subject.iin, field="iin"),
            sex=cipher.encrypt(subject.sex, field="sex"),
            address=cipher.encrypt(subject.address, field="address"),
            iin_hash=iin_hash,
            identity_hash=identity_hash,
        )
    )


def _add_report(
    session: Any,
    case_id: str,
    report_id: str,
    report: ReportIn,
    cipher: FieldCipher,
    now: Any,
    joined: bool,
) -> None:
    session.add(
        Report(
            report_id=report_id,
            case_id=case_id,
            reporter_agency_type=report.reporter.agency_type.value,
            reporter_agency_id=report.reporter.agency_id,
            region=report.reporter.region,
            channel=report.channel.value,
            received_at=report.received_at,
            registered_at=now,
            concerns=json.dumps([concern.value for concern in report.concerns]),
            signs=json.dumps([sign.value for sign in report.signs]),
            flags=report.flags().model_dump_json(),
            narrative=cipher.encrypt(report.narrative, field="narrative"),
            joined=joined,
            forwarded_under=_forwarding_basis(report),
        )
    )


def _forwarding_basis(report: ReportIn) -> str | None:
    # Rules 38874 p.8: a case of a minor is passed on at once, consent or not. An adult's
    # report names no such clause here; the services that act on it ask for consent.
    if report.subject.kind is SubjectKind.MINOR:
        return legal_basis_without_consent("R1")
    return None


def _stage_event(
    session: Any, case_id: str, report_id: str, report: ReportIn, now: Any, joined: bool
) -> None:
    envelope: dict[str, Any] = {
        "occurred_at": now,
        "case_id": uuid.UUID(case_id),
        "correlation_id": uuid.UUID(report_id),
        "producer": "intake",
        "agency_id": report.reporter.agency_id,
    }
    common: dict[str, Any] = {
        "report_id": uuid.UUID(report_id),
        "reporter_agency_type": report.reporter.agency_type.value,
        "reporter_agency_id": report.reporter.agency_id,
        "region": report.reporter.region,
        "received_at": report.received_at,
        "concerns": tuple(report.concerns),
        "flags": report.flags(),
    }
    birth = report.subject.birth_date
    common["subject_kind"] = report.subject.kind
    common["under_three"] = domain.under_three(birth, now.astimezone(ALMATY).date())
    if joined:
        stage(session, ReportJoined(**envelope, **common), now=now)
        return
    event = ReportReceived(
        **envelope,
        **common,
        channel=report.channel,
        signs=tuple(report.signs),
    )
    stage(session, event, now=now)


# --- events: which agencies relate to a case ---------------------------------------------------


def referral_issued(event: ReferralIssued, *, consumer: str, deps: IntakeDeps) -> None:
    """A referral relates its receiving agency to the case."""
    if event.case_id is None:
        return
    _grant_all(
        event.event_id,
        str(event.case_id),
        [(event.to_agency_id, Relation.REFERRAL)],
        consumer=consumer,
        deps=deps,
    )


def obligation_opened(event: ObligationOpened, *, consumer: str, deps: IntakeDeps) -> None:
    """An obligation relates the agency that must act and the one it must reach to the case."""
    if event.case_id is None:
        return
    agencies = [
        (agency_id, Relation.OBLIGATION)
        for agency_id in (event.actor_agency_id, event.target_agency_id)
        if agency_id
    ]
    _grant_all(event.event_id, str(event.case_id), agencies, consumer=consumer, deps=deps)


def _grant_all(
    event_id: uuid.UUID,
    case_id: str,
    agencies: list[tuple[str, Relation]],
    *,
    consumer: str,
    deps: IntakeDeps,
) -> None:
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=consumer, event_id=str(event_id), now=now):
            return
        for agency_id, relation in agencies:
            repository.grant(
                session,
                case_id=case_id,
                agency_id=agency_id,
                relation=relation,
                source=f"event:{event_id}",
                now=now,
            )
        session.commit()
