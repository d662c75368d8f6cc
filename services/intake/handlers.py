"""Intake's commands: load, ask the domain, stage events in the outbox, commit."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from opentelemetry import trace
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.intake import children as witnesses
from services.intake import domain, duplicates, names, repository
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
from shared.openapi import Region
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID

log = logging.getLogger(__name__)

NARRATIVE_LIMIT = 20_000
# The validation context's key for the Almaty day the report was received.
RECEIVED_ON = "received_on"


class ReporterIn(BaseModel):
    """Who reports: an agency type code, optionally its id, and its region."""

    model_config = ConfigDict(extra="forbid")

    agency_type: AgencyType
    agency_id: str | None = Field(default=None, max_length=80, pattern=r"^[a-z0-9_-]+$")
    region: Region

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

    @field_validator("full_name")
    @classmethod
    def _name_has_letters(cls, value: str | None) -> str | None:
        if value is not None and not names.has_letters(value):
            raise ValueError("a name must contain letters")
        return value

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if not iin_rules.is_valid(value):
            raise ValueError("IIN must be 12 ASCII digits with a valid date part and check digit")
        born = info.data.get("birth_date")
        if born is not None and iin_rules.contradicts_birth_date(value, born):
            raise ValueError(
                "the IIN's date part (YYMMDD and century digit) differs from birth_date"
            )
        return value

    @field_validator("birth_date")
    @classmethod
    def _birth_date(cls, value: date | None, info: ValidationInfo) -> date | None:
        on = _report_day(info)
        if value is not None and on is not None:
            try:
                domain.check_birth_date(value, kind=info.data.get("kind", ""), on=on)
            except domain.InvalidReport as error:
                raise ValueError(next(iter(error.problems.values()))) from None
        return value


def _report_day(info: ValidationInfo) -> date | None:
    # The day the report was received (ReportIn puts it in the context), else today.
    context = info.context or {}
    if RECEIVED_ON in context:
        day: date | None = context[RECEIVED_ON]
        return day
    now = context.get("now")
    return now.astimezone(ALMATY).date() if now is not None else None


class ChildIn(SubjectIn):
    """A child who came with an adult victim: a minor, with whatever is known of the child."""

    kind: Literal[SubjectKind.MINOR] = SubjectKind.MINOR


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
    # The children who came with an adult victim, as far as known (services.intake.children):
    # each becomes a minor who witnessed violence, with a case of its own.
    children: list[ChildIn] = Field(default_factory=list, max_length=witnesses.MAX_CHILDREN)
    # The person refuses to apply to the police (Standard 14701 p.35).
    refuses_police: bool = False
    # When the child was removed from the parents (Guide p.12.2, p.12.4 run from it).
    child_removed_at: AwareDatetime | None = None
    narrative: str | None = Field(default=None, max_length=NARRATIVE_LIMIT)

    @field_validator("children")
    @classmethod
    def _children(cls, value: list[ChildIn], info: ValidationInfo) -> list[ChildIn]:
        subject = info.data.get("subject")
        witnesses.check_children(
            value,
            subject_kind=subject.kind if subject is not None else None,
            concerns=info.data.get("concerns") or (),
            count=info.data.get("accompanying_minors") or 0,
            subject_iin=subject.iin if subject is not None else None,
        )
        return value

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
    def _received(cls, value: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        context = info.context
        if context is not None and context.get("now") is not None:
            # The subject (validated after this field) is judged on the day of the report;
            # on no day at all when that day is wrong (one error, on received_at).
            context[RECEIVED_ON] = None
            try:
                context[RECEIVED_ON] = domain.received_on(value, context["now"])
            except domain.InvalidReport as error:
                raise ValueError(next(iter(error.problems.values()))) from None
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
    # The cases of the children who came with the adult, in the order the report names them.
    child_case_ids: tuple[str, ...] = ()


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


def _identity_hashes(cipher: FieldCipher, report: ReportIn) -> tuple[str, ...]:
    subject = report.subject
    return duplicates.identity_hashes(
        cipher, subject.full_name, subject.birth_date, report.reporter.region
    )


def register_report(report: ReportIn, *, deps: IntakeDeps) -> Registered:
    """Register a report: a new case, or a report joined to the person's open case.

    The reporter must be the caller's agency (`reporter_of`).
    """
    now = deps.clock.now()
    cipher = deps.cipher
    kids = witnesses.accompanying(
        subject_kind=report.subject.kind,
        concerns=report.concerns,
        children=report.children,
        count=report.accompanying_minors,
    )
    if kids.total > report.accompanying_minors:
        # The adult's facts count every child who came, named or not (F10 reads the count).
        report = report.model_copy(update={"accompanying_minors": kids.total})
    iin_hash = cipher.lookup_hash(report.subject.iin, field="iin") if report.subject.iin else None
    identity_hashes = _identity_hashes(cipher, report)
    report_id = str(uuid.uuid4())
    for _attempt in range(3):
        try:
            with unit_of_work(deps.engine) as session:
                joined = _open_case_of(session, iin_hash)
                case = _case_for(session, report, joined, iin_hash, identity_hashes, cipher, now)
                _add_report(
                    session, case.case_id, report_id, report, cipher, now, joined is not None
                )
                _grant_reporter(session, case.case_id, report_id, report, now)
                child_case_ids = _register_children(session, case.case_id, report, kids, deps, now)
                _stage_event(
                    session,
                    case.case_id,
                    report_id,
                    report,
                    now,
                    joined is not None,
                    links={"child_case_ids": tuple(uuid.UUID(c) for c in child_case_ids)},
                )
                session.commit()
                break
        except IntegrityError:
            # A concurrent registration committed a row this one also wrote (the same relation
            # to the same case): run again on what is there now.
            continue
    else:
        raise RuntimeError("could not register the report after three attempts")
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, case.case_id)
    span.set_attribute(AGENCY_TYPE, report.reporter.agency_type.value)
    if report.reporter.agency_id:
        span.set_attribute(AGENCY_ID, report.reporter.agency_id)
    return Registered(
        case.case_id, report_id, case.case_number, joined is not None, tuple(child_case_ids)
    )


def _open_case_of(session: Any, iin_hash: str | None) -> domain.OpenCase | None:
    # Only the same IIN joins a case: a name-and-birth-date match is a candidate, never a merge.
    by_iin = repository.open_case_of(session, iin_hash=iin_hash)
    return domain.case_to_join(domain.OpenCase(by_iin) if by_iin else None)


def _case_for(
    session: Any,
    report: ReportIn,
    joined: domain.OpenCase | None,
    iin_hash: str | None,
    identity_hashes: tuple[str, ...],
    cipher: FieldCipher,
    now: Any,
) -> Case:
    if joined is None:
        case = _open_case(session, report, now=now)
        identity_hash = identity_hashes[0] if identity_hashes else None
        _add_subject(session, case.case_id, report, cipher, iin_hash, identity_hash)
        duplicates.record_candidates(
            session, case_id=case.case_id, iin_hash=iin_hash, hashes=identity_hashes, now=now
        )
        return case
    found = repository.get_case(session, case_id=joined.case_id)
    if found is None:
        raise LookupError(joined.case_id)
    return found


def _grant_reporter(session: Any, case_id: str, report_id: str, report: ReportIn, now: Any) -> None:
    if report.reporter.agency_id:
        # The reporter relates to the case by reporting it.
        repository.grant(
            session,
            case_id=case_id,
            agency_id=report.reporter.agency_id,
            relation=Relation.REPORTER,
            source=f"report:{report_id}",
            now=now,
        )


def _register_children(
    session: Any,
    adult_case_id: str,
    report: ReportIn,
    kids: witnesses.Accompanying,
    deps: IntakeDeps,
    now: Any,
) -> list[str]:
    """Open or join a case for each child who came with the adult, linked to the adult's case."""
    cipher = deps.cipher
    child_case_ids: list[str] = []
    reusable = repository.unidentified_children_of(session, adult_case_id=adult_case_id)
    wanted = [(True, child) for child in kids.described]
    wanted += [(False, ChildIn()) for _ in range(kids.unidentified)]
    for identified, child in wanted:
        own = report.model_copy(update=witnesses.child_report_update(child))
        iin_hash = cipher.lookup_hash(child.iin, field="iin") if child.iin else None
        identity_hashes = _identity_hashes(cipher, own)
        if identified:
            joined = _open_case_of(session, iin_hash)
        else:
            # A child known only by number: the adult's next report on it finds the same
            # unnamed children rather than opening more (their number does not grow).
            known = reusable.pop(0) if reusable else None
            joined = domain.OpenCase(known) if known else None
        case = _case_for(session, own, joined, iin_hash, identity_hashes, cipher, now)
        child_report_id = str(uuid.uuid4())
        _add_report(session, case.case_id, child_report_id, own, cipher, now, joined is not None)
        _grant_reporter(session, case.case_id, child_report_id, own, now)
        repository.link_child(
            session,
            adult_case_id=adult_case_id,
            child_case_id=case.case_id,
            identified=identified,
            report_id=child_report_id,
            now=now,
        )
        _stage_event(
            session,
            case.case_id,
            child_report_id,
            own,
            now,
            joined is not None,
            links={"adult_case_id": uuid.UUID(adult_case_id)},
        )
        child_case_ids.append(case.case_id)
    return child_case_ids


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
    session: Any,
    case_id: str,
    report_id: str,
    report: ReportIn,
    now: Any,
    joined: bool,
    *,
    links: dict[str, Any],
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
        **links,
    }
    birth = report.subject.birth_date
    common["subject_kind"] = report.subject.kind
    # The age band on the day the report was received, as the subject was judged.
    common["under_three"] = domain.under_three(birth, report.received_at.astimezone(ALMATY).date())
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
    _grant_all(referral_access(event), consumer=consumer, deps=deps)


def obligation_opened(event: ObligationOpened, *, consumer: str, deps: IntakeDeps) -> None:
    """An obligation relates the agency that must act and the one it must reach to the case."""
    _grant_all(obligation_access(event), consumer=consumer, deps=deps)


@dataclass(frozen=True)
class Access:
    """The relations to a case one event of routing's grants."""

    event_id: str
    case_id: str
    agencies: tuple[tuple[str, Relation], ...]


def referral_access(event: ReferralIssued) -> Access | None:
    """The access a referral grants: its receiving agency's; None without a case."""
    if event.case_id is None:
        return None
    return Access(
        str(event.event_id), str(event.case_id), ((event.to_agency_id, Relation.REFERRAL),)
    )


def obligation_access(event: ObligationOpened) -> Access | None:
    """The access an obligation grants: its actor's and its target's; None without a case."""
    if event.case_id is None:
        return None
    agencies = tuple(
        (agency_id, Relation.OBLIGATION)
        for agency_id in (event.actor_agency_id, event.target_agency_id)
        if agency_id
    )
    return Access(str(event.event_id), str(event.case_id), agencies)


def apply_access(session: Session, access: Access, *, deps: IntakeDeps) -> None:
    """Record a claimed event's relations on the caller's session (no commit)."""
    now = deps.clock.now()
    for agency_id, relation in access.agencies:
        repository.grant(
            session,
            case_id=access.case_id,
            agency_id=agency_id,
            relation=relation,
            source=f"event:{access.event_id}",
            now=now,
        )


def _grant_all(access: Access | None, *, consumer: str, deps: IntakeDeps) -> None:
    if access is None:
        return
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=consumer, event_id=access.event_id, now=deps.clock.now()):
            return
        apply_access(session, access, deps=deps)
        session.commit()
