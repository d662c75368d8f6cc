"""Routing's handlers: load, ask the domain, stage events in the outbox, commit."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine
from sqlmodel import Session

from services.routing import catalogue, domain, repository
from services.routing.domain import Party, ReferralStatus
from services.routing.tables import AgencyRow, Referral, RoutingCase, RoutingObligation
from shared.agencies import AgencyType, is_region, regions
from shared.clock import Clock
from shared.contracts.deadlines import ObligationEscalated
from shared.contracts.envelope import Event, agency_subject
from shared.contracts.intake import ReportJoined, ReportReceived
from shared.contracts.obligations import (
    ObligationCancelled,
    ObligationFulfilled,
    ObligationOpened,
)
from shared.contracts.routing import (
    AgencyAcknowledgement,
    AgencyChanged,
    AgencyDecline,
    AgencyRegistered,
    DeclineReason,
    ReferralAcknowledged,
    ReferralAnswerRejected,
    ReferralDeclined,
    ReferralEscalated,
    ReferralIssued,
    ReferralPurpose,
    ReferralRerouted,
    ReferralUnacknowledged,
)
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

log = logging.getLogger(__name__)

DEFAULT_ACK_TIMEOUT = timedelta(hours=1)


class UnknownReferral(LookupError):
    """No referral has this id (answered 404)."""


class UnknownAgency(LookupError):
    """No agency of the directory has this id (answered 404)."""


class UnknownObligation(LookupError):
    """Routing opened no obligation with this id (answered 404)."""


class CaseNotYetRouted(LookupError):
    """A joined report arrived before the case's first report: retried until it is routed."""


@dataclass
class RoutingDeps:
    """What routing's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer
    rules: domain.Rules = field(default_factory=catalogue.load)
    # Past this an unanswered referral raises referral_unacknowledged (ROUTING_ACK_TIMEOUT).
    ack_timeout: timedelta = DEFAULT_ACK_TIMEOUT


# -- the directory --------------------------------------------------------------------------


def seed_directory(*, deps: RoutingDeps, path: Path) -> int:
    """Load the shipped directory into an empty database; return how many agencies were added."""
    with unit_of_work(deps.engine) as session:
        if repository.count_agencies(session):
            return 0
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data["agencies"]:
            session.add(AgencyRow(**entry))
        session.commit()
        return len(data["agencies"])


def _known_region(value: str | None) -> str | None:
    if value is not None and not is_region(value):
        raise ValueError("unknown region: use an ISO 3166-2 code of Kazakhstan, e.g. KZ-75")
    return value


class AgencyIn(BaseModel):
    """An agency to add to the directory."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")
    agency_type: AgencyType
    region: str | None = None
    district: str | None = Field(default=None, max_length=120)
    name_kk: str = Field(min_length=1, max_length=300)
    name_ru: str = Field(min_length=1, max_length=300)
    name_en: str = Field(min_length=1, max_length=300)
    active: bool = True

    _region = field_validator("region")(_known_region)


class AgencyChange(BaseModel):
    """What changes in an agency of the directory; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    agency_type: AgencyType | None = None
    region: str | None = None
    district: str | None = Field(default=None, max_length=120)
    name_kk: str | None = Field(default=None, min_length=1, max_length=300)
    name_ru: str | None = Field(default=None, min_length=1, max_length=300)
    name_en: str | None = Field(default=None, min_length=1, max_length=300)
    active: bool | None = None

    _region = field_validator("region")(_known_region)


def _directory_envelope(now: datetime) -> dict[str, Any]:
    return {"occurred_at": now, "correlation_id": uuid.uuid4(), "producer": "routing"}


def _entry(row: AgencyRow) -> dict[str, Any]:
    """The directory entry's state, as the directory events carry it."""
    return {
        "directory_agency_id": row.agency_id,
        "agency_type": row.agency_type,
        "region": row.region,
        "district": row.district,
        "name_kk": row.name_kk,
        "name_ru": row.name_ru,
        "name_en": row.name_en,
        "active": row.active,
    }


def _check_entry(session: Session, row: AgencyRow, rules: domain.Rules) -> None:
    agency = domain.Agency(row.agency_id, row.agency_type, row.region, row.active)
    others = repository.agencies_of_type(session, agency_type=row.agency_type)
    domain.check_directory_entry(agency, rules=rules, others=others, regions=regions())


def register_agency(data: AgencyIn, *, deps: RoutingDeps) -> AgencyRow:
    """Add an agency to the directory; the change is an event."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if repository.get_agency(session, agency_id=data.agency_id) is not None:
            raise domain.DirectoryError(f"agency {data.agency_id} is already registered")
        row = AgencyRow(**data.model_dump())
        _check_entry(session, row, deps.rules)
        session.add(row)
        stage(
            session,
            AgencyRegistered(
                **_directory_envelope(now),
                **_entry(row),
            ),
            now=now,
        )
        session.commit()
        return row


def change_agency(agency_id: str, change: AgencyChange, *, deps: RoutingDeps) -> AgencyRow:
    """Change an agency of the directory (incl. deactivate it); each change is an event."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        row = repository.get_agency(session, agency_id=agency_id)
        if row is None:
            raise UnknownAgency(agency_id)
        changed = []
        for name, value in change.model_dump(exclude_unset=True).items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed.append(name)
        if not changed:
            # Nothing changed, nothing to tell; commit so the row stays readable afterwards.
            session.commit()
            return row
        _check_entry(session, row, deps.rules)
        session.add(row)
        stage(
            session,
            AgencyChanged(
                **_directory_envelope(now),
                **_entry(row),
                changed=tuple(changed),
            ),
            now=now,
        )
        session.commit()
        return row


# -- reports --------------------------------------------------------------------------------


def _flags(flags: Any, *, under_three: bool = False) -> set[str]:
    names = {k for k, v in flags.model_dump().items() if v is True}
    if flags.accompanying_minors > 0:
        names.add("accompanying_minors")
    if under_three:
        names.add("under_three")
    return names


def _facts(case: RoutingCase) -> domain.CaseFacts:
    return domain.CaseFacts(
        case_id=case.case_id,
        region=case.region,
        subject_kind=case.subject_kind,
        concerns=frozenset(json.loads(case.concerns)),
        flags=frozenset(json.loads(case.flags)),
    )


def on_report_received(event: ReportReceived, *, deps: RoutingDeps) -> None:
    """Open every row the report brings, delivering the case wherever a row transfers it."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-report_received", event_id=str(event.event_id), now=now
        ):
            return
        case_id = str(event.case_id)
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            case = RoutingCase(
                case_id=case_id,
                region=event.region,
                subject_kind=event.subject_kind.value,
                concerns=json.dumps(sorted(c.value for c in event.concerns)),
                flags=json.dumps(sorted(_flags(event.flags, under_three=event.under_three))),
                reporter_agency_type=event.reporter_agency_type,
                reporter_agency_id=event.reporter_agency_id,
                received_at=event.received_at,
                first_report_id=str(event.report_id),
                opened_at=now,
            )
            session.add(case)
            session.flush()
        reporter = domain.Reporter(
            Party(event.reporter_agency_type, event.reporter_agency_id),
            event.received_at,
            str(event.report_id),
        )
        _route(session, case, reporter, cause=event, deps=deps, now=now)
        session.commit()


def on_report_joined(event: ReportJoined, *, deps: RoutingDeps) -> None:
    """Add only the rows a later report's new facts bring; nobody is told the case twice."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-report_joined", event_id=str(event.event_id), now=now
        ):
            return
        case = repository.get_case(session, case_id=str(event.case_id))
        if case is None:
            # The first report is routed by another consumer; this one waits for it.
            raise CaseNotYetRouted(str(event.case_id))
        concerns = set(json.loads(case.concerns)) | {c.value for c in event.concerns}
        flags = set(json.loads(case.flags)) | _flags(event.flags)
        case.concerns = json.dumps(sorted(concerns))
        case.flags = json.dumps(sorted(flags))
        session.add(case)
        reporter = domain.Reporter(
            Party(event.reporter_agency_type, event.reporter_agency_id),
            event.received_at,
            str(event.report_id),
        )
        _route(session, case, reporter, cause=event, deps=deps, now=now)
        session.commit()


def _earlier_receivers(
    session: Session, case: RoutingCase, directory: Sequence[domain.Agency], rules: domain.Rules
) -> list[domain.Receiver]:
    first = Party(case.reporter_agency_type, case.reporter_agency_id)
    receivers = [
        domain.Receiver(role, first, case.received_at, None, earlier=True, is_reporter=True)
        for role in domain.roles_of(first.agency_type, case.region, directory, rules)
    ]
    for referral in repository.holding_referrals(session, case_id=case.case_id):
        receivers.append(
            domain.Receiver(
                referral.role or referral.to_agency_type,
                Party(referral.to_agency_type, referral.to_agency_id),
                referral.issued_at,
                referral.referral_id,
                earlier=True,
            )
        )
    return receivers


def _route(
    session: Session,
    case: RoutingCase,
    reporter: domain.Reporter,
    *,
    cause: Event,
    deps: RoutingDeps,
    now: datetime,
) -> None:
    directory = repository.directory_for(session, region=case.region)
    decision = domain.decide(
        case=_facts(case),
        reporter=reporter,
        rules=deps.rules,
        directory=directory,
        now=now,
        earlier=_earlier_receivers(session, case, directory, deps.rules),
        applied=repository.duty_keys(session, case_id=case.case_id),
    )
    _carry_out(
        session,
        decision.duties,
        case=case,
        report_id=reporter.report_id,
        envelope=_follow(cause, now),
        deps=deps,
        now=now,
    )


# -- carrying out a decision ----------------------------------------------------------------


def _follow(cause: Event, now: datetime) -> dict[str, Any]:
    return {**cause.follow(), "producer": "routing", "occurred_at": now}


def _envelope_of(referral: Referral, now: datetime) -> dict[str, Any]:
    """Envelope fields for an event an HTTP call causes: correlated with the case's report."""
    correlation = referral.report_id or referral.case_id
    return {
        "case_id": uuid.UUID(referral.case_id),
        "correlation_id": uuid.UUID(correlation),
        "producer": "routing",
        "occurred_at": now,
    }


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _span_attributes(span: trace.Span, attributes: dict[str, str | None]) -> None:
    for name, value in attributes.items():
        if value is not None:
            span.set_attribute(name, value)


def _carry_out(
    session: Session,
    duties: Iterable[domain.Duty],
    *,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
) -> None:
    for duty in duties:
        with deps.tracer.start_as_current_span(f"routing.decide {duty.code}") as span:
            told = duty.delivery.agency if duty.delivery else None
            _span_attributes(
                span,
                {
                    CASE_ID: case.case_id,
                    OBLIGATION_CODE: duty.code,
                    AGENCY_TYPE: told.agency_type if told else duty.actor.agency_type,
                    AGENCY_ID: told.agency_id if told else duty.actor.agency_id,
                    "qorgau.decision": duty.kind.value,
                    "qorgau.actor_agency_type": duty.actor.agency_type,
                    "qorgau.actor_agency_id": duty.actor.agency_id,
                    "qorgau.target_agency_type": duty.target.agency_type if duty.target else None,
                    "qorgau.target_agency_id": duty.target.agency_id if duty.target else None,
                    "qorgau.legal_basis": duty.legal_basis,
                    "qorgau.obligation_id": duty.obligation_id,
                    "qorgau.referral_id": duty.delivery.referral_id if duty.delivery else None,
                    "qorgau.unresolved_agency_type": duty.unresolved,
                },
            )
            _open(session, duty, case=case, report_id=report_id, envelope=envelope, now=now)
            if duty.delivery is not None:
                _issue(
                    session,
                    duty.delivery,
                    case_id=case.case_id,
                    region=case.region,
                    report_id=report_id,
                    code=duty.code,
                    legal_basis=duty.legal_basis,
                    sender=duty.actor,
                    obligation_id=duty.obligation_id,
                    envelope=envelope,
                    deps=deps,
                    now=now,
                )
            if duty.unresolved is not None:
                _escalate_gap(
                    session, duty, case=case, report_id=report_id, envelope=envelope, deps=deps
                )


def _open(
    session: Session,
    duty: domain.Duty,
    *,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    now: datetime,
) -> None:
    obligation = RoutingObligation(
        obligation_id=duty.obligation_id,
        case_id=case.case_id,
        duty_key=duty.key,
        report_id=report_id,
        code=duty.code,
        legal_basis=duty.legal_basis,
        kind=duty.kind.value,
        actor_agency_type=duty.actor.agency_type,
        actor_agency_id=duty.actor.agency_id,
        target_agency_type=duty.target.agency_type if duty.target else None,
        target_agency_id=duty.target.agency_id if duty.target else None,
        region=case.region,
        term=duty.term,
        started_at=duty.started_at,
        via_referral_id=duty.via_referral_id,
    )
    stage(
        session,
        ObligationOpened(
            **envelope,
            obligation_id=uuid.UUID(duty.obligation_id),
            code=duty.code,
            legal_basis=duty.legal_basis,
            actor_agency_type=duty.actor.agency_type,
            actor_agency_id=duty.actor.agency_id,
            target_agency_type=obligation.target_agency_type,
            target_agency_id=obligation.target_agency_id,
            # "none" where the text sets no term: deadlines tracks it open, with no due time.
            term=duty.term,
            started_at=duty.started_at,
            region=case.region,
        ),
        now=now,
    )
    if duty.met_by_platform:
        # A transfer that needs no one's judgement: the platform made it, at delivery.
        obligation.status = "met"
        obligation.met_at = now
        obligation.met_by_platform = True
        stage(
            session,
            ObligationFulfilled(
                **envelope,
                obligation_id=uuid.UUID(duty.obligation_id),
                code=duty.code,
                met_at=now,
                met_by_agency_id=None,
                met_by_platform=True,
            ),
            now=now,
        )
    session.add(obligation)
    # The unique (case, duty) constraint fails here, not silently later, if a twin raced us.
    session.flush()


def _issue(
    session: Session,
    delivery: domain.Delivery,
    *,
    case_id: str,
    region: str,
    report_id: str | None,
    code: str,
    legal_basis: str,
    sender: Party,
    obligation_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
    replaces: Referral | None = None,
    escalation_obligation_id: str | None = None,
) -> Referral:
    existing = repository.get_referral(session, referral_id=delivery.referral_id)
    if existing is not None:
        return existing
    agency = delivery.agency
    referral = Referral(
        referral_id=delivery.referral_id,
        case_id=case_id,
        report_id=report_id,
        code=code,
        legal_basis=legal_basis,
        from_agency_type=sender.agency_type,
        from_agency_id=sender.agency_id,
        to_agency_type=agency.agency_type,
        to_agency_id=agency.agency_id,
        region=region,
        status=ReferralStatus.ISSUED.value,
        issued_at=now,
        purpose=delivery.purpose,
        role=delivery.role,
        chain_id=replaces.chain_id if replaces is not None else delivery.referral_id,
        replaces_referral_id=replaces.referral_id if replaces is not None else None,
        obligation_id=obligation_id,
        escalation_obligation_id=escalation_obligation_id,
        ack_due_at=now + deps.ack_timeout,
    )
    session.add(referral)
    issued = ReferralIssued(
        **envelope,
        referral_id=uuid.UUID(referral.referral_id),
        report_id=_uuid(report_id),
        code=code,
        legal_basis=legal_basis,
        from_agency_type=sender.agency_type,
        from_agency_id=sender.agency_id,
        to_agency_type=agency.agency_type,
        to_agency_id=agency.agency_id,
        region=region,
        issued_at=now,
        purpose=ReferralPurpose(delivery.purpose),
        acting_for=delivery.role if delivery.role != agency.agency_type else None,
        obligation_id=_uuid(obligation_id),
        replaces_referral_id=_uuid(referral.replaces_referral_id),
        escalation_obligation_id=_uuid(escalation_obligation_id),
        ack_due_at=referral.ack_due_at,
    )
    stage(session, issued, now=now)
    stage(session, issued, now=now, subject=agency_subject(agency.agency_id, "referral_issued"))
    return referral


def _escalate_gap(
    session: Session,
    duty: domain.Duty,
    *,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
) -> None:
    now = envelope["occurred_at"]
    if duty.escalation is None:
        # Not even the last resort is in the directory: the open obligation will breach and
        # deadlines escalates it; this line makes the gap visible at once.
        log.error(
            "routing gap: row %s has no %s in %s and nobody to escalate to",
            duty.code,
            duty.unresolved,
            case.region,
        )
        return
    referral = _issue(
        session,
        duty.escalation,
        case_id=case.case_id,
        region=case.region,
        report_id=report_id,
        code=duty.code,
        legal_basis=duty.legal_basis,
        sender=duty.actor,
        obligation_id=duty.obligation_id,
        envelope=envelope,
        deps=deps,
        now=now,
    )
    stage(
        session,
        ReferralEscalated(
            **envelope,
            new_referral_id=uuid.UUID(referral.referral_id),
            declined_referral_id=None,
            code=duty.code,
            cause="no_agency",
            unresolved_agency_type=str(duty.unresolved),
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            region=case.region,
        ),
        now=now,
    )


# -- answers: acknowledge and decline -------------------------------------------------------


def _answerable(session: Session, referral_id: str, agency_id: str) -> Referral:
    referral = repository.get_referral(session, referral_id=referral_id, lock=True)
    if referral is None:
        raise UnknownReferral(referral_id)
    domain.check_addressee(referral.to_agency_id, agency_id)
    return referral


def _acknowledge(
    session: Session,
    referral_id: str,
    agency_id: str,
    *,
    via: str,
    envelope: dict[str, Any] | None,
    now: datetime,
) -> Referral:
    referral = _answerable(session, referral_id, agency_id)
    referral.status = domain.transition(referral.status, ReferralStatus.ACKNOWLEDGED).value
    referral.answered_at = now
    referral.answered_via = via
    session.add(referral)
    stage(
        session,
        ReferralAcknowledged(
            **(envelope or _envelope_of(referral, now)),
            agency_id=agency_id,
            referral_id=uuid.UUID(referral.referral_id),
            code=referral.code,
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            acknowledged_at=now,
            via=via,
        ),
        now=now,
    )
    if referral.escalation_obligation_id is not None:
        # The supervisor taking up a breach is the act its escalation asked for: met, so it
        # stops climbing (deadlines counts whether it was in time).
        stage(
            session,
            ObligationFulfilled(
                **(envelope or _envelope_of(referral, now)),
                obligation_id=uuid.UUID(referral.escalation_obligation_id),
                code=referral.code,
                met_at=now,
                met_by_agency_id=agency_id,
            ),
            now=now,
        )
    return referral


def acknowledge_referral(referral_id: str, agency_id: str, *, deps: RoutingDeps) -> Referral:
    """Record that the agency a referral was delivered to accepted it (over HTTP)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        referral = _acknowledge(session, referral_id, agency_id, via="http", envelope=None, now=now)
        session.commit()
        return referral


@dataclass(frozen=True)
class Declined:
    """A declined referral and the referral that replaced it."""

    declined: Referral
    replacement: Referral


def _decline(
    session: Session,
    referral_id: str,
    agency_id: str,
    reason: DeclineReason,
    *,
    via: str,
    envelope: dict[str, Any] | None,
    deps: RoutingDeps,
    now: datetime,
) -> Declined:
    referral = _answerable(session, referral_id, agency_id)
    referral.status = domain.transition(referral.status, ReferralStatus.DECLINED).value
    referral.answered_at = now
    referral.answered_via = via
    referral.decline_reason = reason.value
    envelope = envelope or _envelope_of(referral, now)
    stage(
        session,
        ReferralDeclined(
            **envelope,
            agency_id=agency_id,
            referral_id=uuid.UUID(referral.referral_id),
            code=referral.code,
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            reason=reason,
            declined_at=now,
            via=via,
        ),
        now=now,
    )
    chain = repository.referrals_of_chain(session, chain_id=referral.chain_id)
    declined_by = {r.to_agency_id for r in chain if r.status not in repository.HOLDING}
    declined_by.add(referral.to_agency_id)
    directory = repository.directory_for(session, region=referral.region)
    role = referral.role or referral.to_agency_type
    step = domain.after_decline(
        role=role,
        region=referral.region,
        declined=declined_by,
        directory=directory,
        rules=deps.rules,
    )
    referral.status = domain.transition(referral.status, step.outcome).value
    session.add(referral)
    with deps.tracer.start_as_current_span(f"routing.decide {referral.code}") as span:
        _span_attributes(
            span,
            {
                CASE_ID: referral.case_id,
                OBLIGATION_CODE: referral.code,
                AGENCY_TYPE: step.agency.agency_type,
                AGENCY_ID: step.agency.agency_id,
                "qorgau.decision": "reroute"
                if step.outcome is ReferralStatus.REROUTED
                else "escalate",
                "qorgau.declined_by_agency_id": referral.to_agency_id,
                "qorgau.legal_basis": referral.legal_basis,
                "qorgau.referral_id": domain.next_referral_id(referral.referral_id),
            },
        )
        replacement = _replace(
            session, referral, step, reason=reason, envelope=envelope, deps=deps, now=now
        )
    return Declined(referral, replacement)


def _replace(
    session: Session,
    referral: Referral,
    step: domain.NextStep,
    *,
    reason: DeclineReason,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
) -> Referral:
    rerouted = step.outcome is ReferralStatus.REROUTED
    # The duties the declining agency had through this referral go with it.
    carried: list[RoutingObligation] = []
    for obligation in repository.open_obligations_via(session, referral_id=referral.referral_id):
        obligation.status = "cancelled"
        session.add(obligation)
        carried.append(obligation)
        stage(
            session,
            ObligationCancelled(
                **envelope,
                obligation_id=uuid.UUID(obligation.obligation_id),
                code=obligation.code,
                reason=(
                    f"referral declined ({reason.value}) by {referral.to_agency_id}; "
                    f"{step.outcome.value} to {step.agency.agency_id}"
                ),
            ),
            now=now,
        )
    delivery = domain.Delivery(
        domain.next_referral_id(referral.referral_id),
        step.agency,
        step.role,
        referral.purpose if rerouted else ReferralPurpose.ESCALATION.value,
    )
    replacement = _issue(
        session,
        delivery,
        case_id=referral.case_id,
        region=referral.region,
        report_id=referral.report_id,
        code=referral.code,
        legal_basis=referral.legal_basis,
        sender=Party(referral.from_agency_type, referral.from_agency_id),
        obligation_id=referral.obligation_id,
        envelope=envelope,
        deps=deps,
        now=now,
        replaces=referral,
    )
    if rerouted:
        stage(
            session,
            ReferralRerouted(
                **envelope,
                declined_referral_id=uuid.UUID(referral.referral_id),
                new_referral_id=uuid.UUID(replacement.referral_id),
                code=referral.code,
                declined_by_agency_id=referral.to_agency_id,
                to_agency_type=replacement.to_agency_type,
                to_agency_id=replacement.to_agency_id,
                acting_for=step.role if step.role != step.agency.agency_type else None,
                region=referral.region,
            ),
            now=now,
        )
        _take_over(session, referral, replacement, carried, envelope=envelope, deps=deps, now=now)
    else:
        stage(
            session,
            ReferralEscalated(
                **envelope,
                new_referral_id=uuid.UUID(replacement.referral_id),
                declined_referral_id=uuid.UUID(referral.referral_id),
                code=referral.code,
                cause="declined",
                unresolved_agency_type=referral.role or referral.to_agency_type,
                to_agency_type=replacement.to_agency_type,
                to_agency_id=replacement.to_agency_id,
                region=referral.region,
            ),
            now=now,
        )
    return replacement


def _arrival_duties(
    session: Session, case: RoutingCase, referral: Referral, *, rules: domain.Rules, now: datetime
) -> list[domain.Duty]:
    """Return what an agency owes on receipt when a referral outside a report reaches it."""
    decision = domain.decide_on_arrival(
        case=_facts(case),
        reporter=domain.Reporter(
            Party(case.reporter_agency_type, case.reporter_agency_id), case.received_at
        ),
        arrival=domain.Receiver(
            referral.role,
            Party(referral.to_agency_type, referral.to_agency_id),
            now,
            referral.referral_id,
        ),
        rules=rules,
        directory=repository.directory_for(session, region=case.region),
        now=now,
        applied=repository.duty_keys(session, case_id=case.case_id),
    )
    return list(decision.duties)


def _take_over(
    session: Session,
    declined: Referral,
    replacement: Referral,
    carried: Sequence[RoutingObligation],
    *,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
) -> None:
    """Give the agency a re-routed referral reached what the declining one owed through it."""
    case = repository.get_case(session, case_id=declined.case_id)
    if case is None:
        # An escalation from deadlines for a case routing never routed: nothing more to owe.
        return
    duties = _arrival_duties(session, case, replacement, rules=deps.rules, now=now)
    keys = repository.duty_keys(session, case_id=case.case_id) | {d.key for d in duties}
    actor = Party(replacement.to_agency_type, replacement.to_agency_id)
    for obligation in carried:
        if obligation.kind != domain.Kind.ACTION.value:
            continue
        # The duty an action referral told the declining agency of (G8, say) is now this one's.
        target = obligation.target_agency_type
        key = f"{obligation.code}@{actor.key}" + (f">{target}" if target else "")
        if key in keys:
            continue
        keys.add(key)
        duties.append(
            domain.Duty(
                key=key,
                obligation_id=domain.obligation_id_for(case.case_id, key),
                code=obligation.code,
                legal_basis=obligation.legal_basis,
                kind=domain.Kind.ACTION,
                term=obligation.term,
                actor=actor,
                target=Party(target) if target else None,
                started_at=now,
                delivery=None,
                met_by_platform=False,
                via_referral_id=replacement.referral_id,
            )
        )
    _carry_out(
        session,
        duties,
        case=case,
        report_id=declined.report_id,
        envelope=envelope,
        deps=deps,
        now=now,
    )


def decline_referral(
    referral_id: str, agency_id: str, reason: DeclineReason, *, deps: RoutingDeps
) -> Declined:
    """Record a decline (over HTTP) and re-route or escalate the referral in the same step."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        outcome = _decline(
            session, referral_id, agency_id, reason, via="http", envelope=None, deps=deps, now=now
        )
        session.commit()
        return outcome


def _rejected(
    event: AgencyAcknowledgement | AgencyDecline,
    answering: str,
    answer: str,
    error: Exception,
    *,
    consumer: str,
    deps: RoutingDeps,
) -> None:
    problem = {
        UnknownReferral: "unknown_referral",
        domain.NotAddressee: "not_addressee",
        domain.IllegalTransition: "illegal_transition",
        domain.NoAgencyLeft: "no_agency_left",
    }.get(type(error), "rejected")
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
            return
        referral = repository.get_referral(session, referral_id=str(event.referral_id))
        envelope = (
            {**event.follow(), "producer": "routing", "occurred_at": now}
            if referral is None
            else {**_envelope_of(referral, now), "causation_id": event.event_id}
        )
        rejection = ReferralAnswerRejected(
            **envelope,
            referral_id=event.referral_id,
            answering_agency_id=answering,
            answer=answer,
            problem=problem,
            status=referral.status if referral is not None else None,
        )
        # Recorded, and told to the agency that answered: never silently ignored.
        log.warning(
            "agency answer rejected: referral=%s agency=%s answer=%s problem=%s",
            event.referral_id,
            answering,
            answer,
            problem,
        )
        stage(session, rejection, now=now)
        stage(
            session,
            rejection,
            now=now,
            subject=agency_subject(answering, "referral_answer_rejected"),
        )
        session.commit()


def _apply_agency_answer(
    event: AgencyAcknowledgement | AgencyDecline,
    *,
    subject_agency_id: str,
    kind: str,
    apply: Callable[[Session, dict[str, Any] | None, datetime], object],
    deps: RoutingDeps,
) -> None:
    # The answering agency is the one whose subject carried the answer, never a body field.
    consumer = f"routing-agency_{'acknowledgement' if kind == 'acknowledge' else 'decline'}"
    now = deps.clock.now()
    try:
        with unit_of_work(deps.engine) as session:
            if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
                return
            referral = repository.get_referral(session, referral_id=str(event.referral_id))
            envelope = (
                {**_envelope_of(referral, now), "causation_id": event.event_id}
                if referral is not None
                else None
            )
            apply(session, envelope, now)
            session.commit()
    except (UnknownReferral, domain.RoutingError) as error:
        _rejected(event, subject_agency_id, kind, error, consumer=consumer, deps=deps)


def on_agency_acknowledgement(
    event: AgencyAcknowledgement, *, subject_agency_id: str, deps: RoutingDeps
) -> None:
    """Apply an acknowledgement an agency published on its own subject."""
    _apply_agency_answer(
        event,
        subject_agency_id=subject_agency_id,
        kind="acknowledge",
        apply=lambda session, envelope, now: _acknowledge(
            session,
            str(event.referral_id),
            subject_agency_id,
            via="nats",
            envelope=envelope,
            now=now,
        ),
        deps=deps,
    )


def on_agency_decline(event: AgencyDecline, *, subject_agency_id: str, deps: RoutingDeps) -> None:
    """Apply a decline an agency published on its own subject: re-route or escalate it."""
    _apply_agency_answer(
        event,
        subject_agency_id=subject_agency_id,
        kind="decline",
        apply=lambda session, envelope, now: _decline(
            session,
            str(event.referral_id),
            subject_agency_id,
            event.reason,
            via="nats",
            envelope=envelope,
            deps=deps,
            now=now,
        ),
        deps=deps,
    )


# -- a transfer that needed a person's judgement --------------------------------------------


def refer(obligation_id: str, agency_id: str, *, deps: RoutingDeps) -> Referral:
    """Make the transfer an open obligation asks its actor to decide on (R13, G2); meet it."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        obligation = repository.get_obligation(session, obligation_id=obligation_id)
        if obligation is None:
            raise UnknownObligation(obligation_id)
        if obligation.actor_agency_id != agency_id:
            raise domain.NotAddressee("only the agency that owes the obligation may meet it")
        if obligation.status != "open" or not obligation.target_agency_type:
            raise domain.IllegalTransition(
                f"obligation {obligation.code} is {obligation.status}, or names nobody to refer to"
            )
        case = repository.get_case(session, case_id=obligation.case_id)
        if case is None:
            raise UnknownObligation(obligation_id)
        directory = repository.directory_for(session, region=obligation.region)
        agency = domain.resolve(
            obligation.target_agency_type, obligation.region, directory, deps.rules
        )
        if agency is None:
            raise domain.NoAgencyLeft(
                f"no {obligation.target_agency_type} in {obligation.region} to refer to"
            )
        envelope: dict[str, Any] = {
            "case_id": uuid.UUID(case.case_id),
            "correlation_id": uuid.UUID(obligation.report_id or case.first_report_id),
            "producer": "routing",
            "occurred_at": now,
            "agency_id": agency_id,
        }
        with deps.tracer.start_as_current_span(f"routing.decide {obligation.code}") as span:
            _span_attributes(
                span,
                {
                    CASE_ID: case.case_id,
                    OBLIGATION_CODE: obligation.code,
                    AGENCY_TYPE: agency.agency_type,
                    AGENCY_ID: agency.agency_id,
                    "qorgau.decision": "referral_by_agency",
                    "qorgau.actor_agency_id": agency_id,
                    "qorgau.legal_basis": obligation.legal_basis,
                    "qorgau.obligation_id": obligation.obligation_id,
                },
            )
            referral = _issue(
                session,
                domain.Delivery(
                    domain.referral_id_for(case.case_id, f"{obligation.duty_key}|referred"),
                    agency,
                    obligation.target_agency_type,
                    ReferralPurpose.TRANSFER.value,
                ),
                case_id=case.case_id,
                region=case.region,
                report_id=obligation.report_id,
                code=obligation.code,
                legal_basis=obligation.legal_basis,
                sender=Party(obligation.actor_agency_type, agency_id),
                obligation_id=obligation.obligation_id,
                envelope=envelope,
                deps=deps,
                now=now,
            )
        obligation.status = "met"
        obligation.met_at = now
        obligation.met_by_agency_id = agency_id
        obligation.target_agency_id = agency.agency_id
        session.add(obligation)
        stage(
            session,
            ObligationFulfilled(
                **envelope,
                obligation_id=uuid.UUID(obligation.obligation_id),
                code=obligation.code,
                met_at=now,
                met_by_agency_id=agency_id,
                met_by_platform=False,
            ),
            now=now,
        )
        _carry_out(
            session,
            _arrival_duties(session, case, referral, rules=deps.rules, now=now),
            case=case,
            report_id=referral.report_id,
            envelope=envelope,
            deps=deps,
            now=now,
        )
        session.commit()
        return referral


# -- the acknowledgement timer and deadlines' escalations -----------------------------------


def check_unacknowledged(*, deps: RoutingDeps, limit: int = 200) -> int:
    """Raise referral_unacknowledged, once each, for referrals unanswered past their time."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        due = repository.unacknowledged_due(session, now=now, limit=limit)
        for referral in due:
            referral.unacknowledged_at = now
            session.add(referral)
            event = ReferralUnacknowledged(
                **_envelope_of(referral, now),
                referral_id=uuid.UUID(referral.referral_id),
                code=referral.code,
                to_agency_type=referral.to_agency_type,
                to_agency_id=referral.to_agency_id,
                region=referral.region,
                issued_at=referral.issued_at,
                ack_due_at=referral.ack_due_at or now,
            )
            stage(session, event, now=now)
            # A reminder on the agency's own subject, beside the event for supervisors.
            stage(
                session,
                event,
                now=now,
                subject=agency_subject(referral.to_agency_id, "referral_unacknowledged"),
            )
        session.commit()
        return len(due)


def on_obligation_escalated(event: ObligationEscalated, *, deps: RoutingDeps) -> None:
    """Deliver a breach's escalation to the supervising agency of the region (or national)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session,
            consumer="routing-obligation_escalated",
            event_id=str(event.event_id),
            now=now,
        ):
            return
        referral_id = domain.escalation_referral_id(str(event.escalation_obligation_id))
        if repository.get_referral(session, referral_id=referral_id) is not None:
            # The same escalation published again (a new event id): delivered already.
            session.commit()
            return
        region = event.region or ""
        directory = repository.directory_for(session, region=event.region)
        role = event.supervisor_agency_type
        agency = domain.resolve(role, region, directory, deps.rules)
        if agency is None:
            found = domain.escalation_target(role, region, directory, deps.rules)
            if found is None:
                log.error(
                    "escalation of %s has no %s in %s, nor anybody above",
                    event.code,
                    role,
                    event.region,
                )
                session.commit()
                return
            role, agency = found
        # Fields deadlines may add: read defensively, the contract is being extended.
        breached = getattr(event, "breached_actor_agency_type", None)
        breached_id = getattr(event, "breached_actor_agency_id", None)
        case = repository.get_case(session, case_id=str(event.case_id)) if event.case_id else None
        envelope = _follow(event, now)
        with deps.tracer.start_as_current_span(f"routing.decide {event.code}") as span:
            _span_attributes(
                span,
                {
                    CASE_ID: str(event.case_id) if event.case_id else None,
                    OBLIGATION_CODE: event.code,
                    AGENCY_TYPE: agency.agency_type,
                    AGENCY_ID: agency.agency_id,
                    "qorgau.decision": "escalate",
                    "qorgau.legal_basis": event.legal_basis,
                    "qorgau.obligation_id": str(event.escalation_obligation_id),
                },
            )
            referral = _issue(
                session,
                domain.Delivery(
                    referral_id,
                    agency,
                    role,
                    ReferralPurpose.ESCALATION.value,
                ),
                case_id=str(event.case_id) if event.case_id else str(event.obligation_id),
                region=event.region or (case.region if case else ""),
                report_id=None,
                code=event.code,
                legal_basis=event.legal_basis,
                sender=Party(breached or "deadlines", breached_id),
                obligation_id=str(event.obligation_id),
                envelope=envelope,
                deps=deps,
                now=now,
                escalation_obligation_id=str(event.escalation_obligation_id),
            )
            stage(
                session,
                ReferralEscalated(
                    **envelope,
                    new_referral_id=uuid.UUID(referral.referral_id),
                    code=event.code,
                    cause="obligation_breached",
                    unresolved_agency_type=breached or event.supervisor_agency_type,
                    to_agency_type=referral.to_agency_type,
                    to_agency_id=referral.to_agency_id,
                    region=referral.region,
                ),
                now=now,
            )
        session.commit()
