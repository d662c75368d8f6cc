"""Agencies' answers: acknowledge or decline a referral (over HTTP or NATS), refer a case on."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel import Session

from services.routing import domain, repository
from services.routing.domain import Party, ReferralStatus
from services.routing.handlers.common import (
    RoutingDeps,
    UnknownObligation,
    UnknownReferral,
    decision_span,
    new_envelope,
)
from services.routing.handlers.delivery import arrival_duties, carry_out, issue, stage_met
from services.routing.handlers.shelter_places import (
    SHELTER,
    ShelterChoice,
    choose_shelter,
    stage_no_room,
)
from services.routing.tables import Referral, RoutingObligation
from shared.contracts.envelope import agency_subject
from shared.contracts.obligations import ObligationCancelled
from shared.contracts.routing import (
    AgencyAcknowledgement,
    AgencyDecline,
    CarriedRow,
    DeclineReason,
    ReferralAcknowledged,
    ReferralAnswerRejected,
    ReferralDeclined,
    ReferralEscalated,
    ReferralPurpose,
    ReferralRerouted,
)
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Declined:
    """A declined referral and the referral that replaced it."""

    declined: Referral
    replacement: Referral


# The status an answer asks for; the domain says whether the referral may take it.
_STATUS_AFTER: dict[type[ReferralAcknowledged] | type[ReferralDeclined], ReferralStatus] = {
    ReferralAcknowledged: ReferralStatus.ACKNOWLEDGED,
    ReferralDeclined: ReferralStatus.DECLINED,
}


def _answer(
    session: Session,
    referral_id: str,
    agency_id: str,
    answer: type[ReferralAcknowledged] | type[ReferralDeclined],
    *,
    via: str,
    causation_id: uuid.UUID | None,
    now: datetime,
    **details: Any,
) -> tuple[Referral, dict[str, Any]]:
    """Record the addressee's answer, the step the domain allows, and stage it as an event.

    Returns the referral and the envelope its answer's events share.
    """
    referral = repository.get_referral(session, referral_id=referral_id, lock=True)
    if referral is None:
        raise UnknownReferral(referral_id)
    domain.check_addressee(referral.to_agency_id, agency_id)
    referral.status = domain.transition(referral.status, _STATUS_AFTER[answer]).value
    referral.answered_at = now
    referral.answered_via = via
    session.add(referral)
    envelope = new_envelope(now, referral=referral, causation_id=causation_id)
    stage(
        session,
        answer(
            **envelope,
            agency_id=agency_id,
            referral_id=uuid.UUID(referral.referral_id),
            code=referral.code,
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            via=via,
            **details,
        ),
        now=now,
    )
    return referral, envelope


def _acknowledge(
    session: Session,
    referral_id: str,
    agency_id: str,
    *,
    via: str,
    causation_id: uuid.UUID | None,
    now: datetime,
) -> Referral:
    referral, envelope = _answer(
        session,
        referral_id,
        agency_id,
        ReferralAcknowledged,
        via=via,
        causation_id=causation_id,
        now=now,
        acknowledged_at=now,
    )
    if referral.escalation_obligation_id is not None:
        # The supervisor taking up a breach is the act its escalation asked for: met, so it
        # stops climbing (deadlines counts whether it was in time).
        escalation_id = referral.escalation_obligation_id
        stage_met(session, envelope, escalation_id, referral.code, by_agency_id=agency_id, now=now)
    return referral


def acknowledge_referral(referral_id: str, agency_id: str, *, deps: RoutingDeps) -> Referral:
    """Record that the agency a referral was delivered to accepted it (over HTTP)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        referral = _acknowledge(
            session, referral_id, agency_id, via="http", causation_id=None, now=now
        )
        session.commit()
        return referral


def _decline(
    session: Session,
    referral_id: str,
    agency_id: str,
    *,
    reason: DeclineReason,
    via: str,
    causation_id: uuid.UUID | None,
    deps: RoutingDeps,
    now: datetime,
) -> Declined:
    referral, envelope = _answer(
        session,
        referral_id,
        agency_id,
        ReferralDeclined,
        via=via,
        causation_id=causation_id,
        now=now,
        reason=reason,
        declined_at=now,
    )
    referral.decline_reason = reason.value
    chain = repository.referrals_of_chain(session, chain_id=referral.chain_id)
    declined_by = {r.to_agency_id for r in chain if r.status not in repository.HOLDING}
    declined_by.add(referral.to_agency_id)
    directory = repository.directory_for(session, region=referral.region)
    step = domain.after_decline(
        role=referral.role or referral.to_agency_type,
        region=referral.region,
        declined=declined_by,
        directory=directory,
        rules=deps.rules,
    )
    referral.status = domain.transition(referral.status, step.outcome).value
    session.add(referral)
    with decision_span(
        deps,
        referral.code,
        decision="reroute" if step.outcome is ReferralStatus.REROUTED else "escalate",
        case_id=referral.case_id,
        agency_type=step.agency.agency_type,
        agency_id=step.agency.agency_id,
        legal_basis=referral.legal_basis,
        obligation_id=None,
        declined_by_agency_id=referral.to_agency_id,
        referral_id=domain.next_referral_id(referral.referral_id),
    ):
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
    replacement = issue(
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
        # Every row the declined delivery carried moves with it.
        rows=tuple(CarriedRow.model_validate(row) for row in json.loads(referral.rows)),
    )
    # What both outcomes tell: which referral was declined and where the case went instead.
    moved: dict[str, Any] = {
        **envelope,
        "declined_referral_id": uuid.UUID(referral.referral_id),
        "new_referral_id": uuid.UUID(replacement.referral_id),
        "code": referral.code,
        "to_agency_type": replacement.to_agency_type,
        "to_agency_id": replacement.to_agency_id,
        "region": referral.region,
    }
    if rerouted:
        acting_for = step.role if step.role != step.agency.agency_type else None
        stage(
            session,
            ReferralRerouted(
                **moved, declined_by_agency_id=referral.to_agency_id, acting_for=acting_for
            ),
            now=now,
        )
        _take_over(session, referral, replacement, carried, envelope=envelope, deps=deps, now=now)
    else:
        unresolved = referral.role or referral.to_agency_type
        stage(
            session,
            ReferralEscalated(**moved, cause="declined", unresolved_agency_type=unresolved),
            now=now,
        )
    return replacement


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
    duties = arrival_duties(session, case, replacement, rules=deps.rules, now=now)
    keys = repository.duty_keys(session, case_id=case.case_id) | {d.key for d in duties}
    actor = Party(replacement.to_agency_type, replacement.to_agency_id)
    for obligation in carried:
        if obligation.kind != domain.Kind.ACTION.value:
            continue
        # The duty an action referral told the declining agency of (G8, say) is now this one's.
        duty = domain.action_duty(
            case_id=case.case_id,
            code=obligation.code,
            legal_basis=obligation.legal_basis,
            term=obligation.term,
            actor=actor,
            target_type=obligation.target_agency_type,
            started_at=now,
            via_referral_id=replacement.referral_id,
        )
        if duty.key in keys:
            continue
        keys.add(duty.key)
        duties.append(duty)
    carry_out(
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
            session,
            referral_id,
            agency_id,
            reason=reason,
            via="http",
            causation_id=None,
            deps=deps,
            now=now,
        )
        session.commit()
        return outcome


# -- answers over NATS, on the answering agency's own subject -------------------------------


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
            new_envelope(now, cause=event)
            if referral is None
            else new_envelope(now, referral=referral, causation_id=event.event_id)
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
    answer: Callable[..., object],
    deps: RoutingDeps,
) -> None:
    # The answering agency is the one whose subject carried the answer, never a body field.
    consumer = f"routing-agency_{'acknowledgement' if kind == 'acknowledge' else 'decline'}"
    now = deps.clock.now()
    try:
        with unit_of_work(deps.engine) as session:
            if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
                return
            answer(
                session,
                str(event.referral_id),
                subject_agency_id,
                via="nats",
                causation_id=event.event_id,
                now=now,
            )
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
        answer=_acknowledge,
        deps=deps,
    )


def on_agency_decline(event: AgencyDecline, *, subject_agency_id: str, deps: RoutingDeps) -> None:
    """Apply a decline an agency published on its own subject: re-route or escalate it."""
    _apply_agency_answer(
        event,
        subject_agency_id=subject_agency_id,
        kind="decline",
        answer=partial(_decline, reason=event.reason, deps=deps),
        deps=deps,
    )


# -- a transfer that needed a person's judgement --------------------------------------------


def refer(
    obligation_id: str, agency_id: str, *, deps: RoutingDeps, consent: bool = False
) -> Referral:
    """Make the transfer an open obligation asks its actor to decide on (R13, G2); meet it.

    `consent`: the person agreed, where the row refers only with consent (S1, F8).
    """
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        obligation = repository.get_obligation(session, obligation_id=obligation_id)
        if obligation is None:
            raise UnknownObligation(obligation_id)
        target_type = domain.check_referable(
            code=obligation.code,
            status=obligation.status,
            actor_agency_id=obligation.actor_agency_id,
            target_agency_type=obligation.target_agency_type,
            agency_id=agency_id,
            needs_consent=any(
                row.needs_consent for row in deps.rules.rows if row.code == obligation.code
            ),
            consent=consent,
        )
        case = repository.get_case(session, case_id=obligation.case_id)
        if case is None:
            raise UnknownObligation(obligation_id)
        directory = repository.directory_for(session, region=obligation.region)
        if target_type == SHELTER:
            # A full shelter is passed over for one with room in the region (S1, F8).
            choice = choose_shelter(
                session, region=obligation.region, directory=directory, rules=deps.rules
            )
        else:
            choice = ShelterChoice(
                domain.referral_recipient(target_type, obligation.region, directory, deps.rules),
                target_type,
                escalated=False,
            )
        agency = choice.agency
        envelope = new_envelope(
            now,
            case_id=case.case_id,
            correlation_id=obligation.report_id or case.first_report_id,
            agency_id=agency_id,
        )
        with decision_span(
            deps,
            obligation.code,
            decision="referral_by_agency",
            case_id=case.case_id,
            agency_type=agency.agency_type,
            agency_id=agency.agency_id,
            legal_basis=obligation.legal_basis,
            obligation_id=obligation.obligation_id,
            actor_agency_id=agency_id,
        ):
            referral = issue(
                session,
                domain.Delivery(
                    domain.referral_id_for(case.case_id, f"{obligation.duty_key}|referred"),
                    agency,
                    choice.role,
                    choice.purpose,
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
            if choice.escalated:
                stage_no_room(session, referral, envelope=envelope, now=now)
        obligation.status = "met"
        obligation.met_at = now
        obligation.met_by_agency_id = agency_id
        obligation.target_agency_id = agency.agency_id
        session.add(obligation)
        stage_met(
            session,
            envelope,
            obligation.obligation_id,
            obligation.code,
            by_agency_id=agency_id,
            now=now,
        )
        carry_out(
            session,
            arrival_duties(session, case, referral, rules=deps.rules, now=now),
            case=case,
            report_id=referral.report_id,
            envelope=envelope,
            deps=deps,
            now=now,
        )
        session.commit()
        return referral
