"""Escalations: referrals left unanswered too long, and breaches deadlines escalates."""

from __future__ import annotations

import logging
import uuid

from services.routing import domain, repository
from services.routing.domain import Party
from services.routing.handlers.common import RoutingDeps, decision_span, new_envelope
from services.routing.handlers.delivery import issue
from shared.contracts.deadlines import ObligationEscalated
from shared.contracts.envelope import agency_subject
from shared.contracts.routing import ReferralEscalated, ReferralPurpose, ReferralUnacknowledged
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage

log = logging.getLogger(__name__)


def check_unacknowledged(*, deps: RoutingDeps, limit: int = 200) -> int:
    """Raise referral_unacknowledged, once each, for referrals unanswered past their time."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        due = repository.unacknowledged_due(session, now=now, limit=limit)
        for referral in due:
            referral.unacknowledged_at = now
            session.add(referral)
            event = ReferralUnacknowledged(
                **new_envelope(now, referral=referral),
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
        directory = repository.directory_for(session, region=event.region)
        try:
            role, agency = domain.escalation_recipient(
                event.supervisor_agency_type, event.region or "", directory, deps.rules
            )
        except domain.NoAgencyLeft:
            log.error(
                "escalation of %s has no %s in %s, nor anybody above",
                event.code,
                event.supervisor_agency_type,
                event.region,
            )
            session.commit()
            return
        breached = event.breached_actor_agency_type
        case = repository.get_case(session, case_id=str(event.case_id)) if event.case_id else None
        envelope = new_envelope(now, cause=event)
        with decision_span(
            deps,
            event.code,
            decision="escalate",
            case_id=str(event.case_id) if event.case_id else None,
            agency_type=agency.agency_type,
            agency_id=agency.agency_id,
            legal_basis=event.legal_basis,
            obligation_id=str(event.escalation_obligation_id),
        ):
            referral = issue(
                session,
                domain.Delivery(referral_id, agency, role, ReferralPurpose.ESCALATION.value),
                case_id=str(event.case_id) if event.case_id else str(event.obligation_id),
                region=event.region or (case.region if case else ""),
                report_id=None,
                code=event.code,
                legal_basis=event.legal_basis,
                sender=Party(breached or "deadlines", event.breached_actor_agency_id),
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
