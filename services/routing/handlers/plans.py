"""Plan lines: casework gave a line of a rehabilitation plan to an agency; routing delivers it.

Routing owns the directory and every delivery to an agency's subject, so a line the child-rights
body gives another organisation (Rules 38874 p.22, Appendix 2) reaches it as a referral with
`purpose: "plan_line"`, carrying the obligation casework opened on it.
"""

from __future__ import annotations

import logging

from services.routing import domain, repository
from services.routing.domain import Party
from services.routing.handlers.common import RoutingDeps, decision_span, new_envelope
from services.routing.handlers.delivery import issue
from shared.contracts.casework import PlanLineAssigned
from shared.contracts.routing import ReferralPurpose
from shared.db import unit_of_work
from shared.inbox import claim

log = logging.getLogger(__name__)


def on_plan_line_assigned(event: PlanLineAssigned, *, deps: RoutingDeps) -> None:
    """Deliver a plan line to its responsible organisation, on that agency's subject."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-plan_line_assigned", event_id=str(event.event_id), now=now
        ):
            return
        row = repository.get_agency(session, agency_id=event.to_agency_id)
        if row is None:
            # Casework checks the line's organisation against the directory: a producer bug.
            log.error("plan line for %s, not in the directory", event.to_agency_id)
            session.commit()
            return
        agency = domain.Agency(row.agency_id, row.agency_type, row.region, row.active)
        referral_id = domain.plan_line_referral_id(str(event.obligation_id))
        with decision_span(
            deps,
            event.code,
            decision="plan_line",
            case_id=str(event.case_id) if event.case_id else None,
            agency_type=agency.agency_type,
            agency_id=agency.agency_id,
            legal_basis=event.legal_basis,
            obligation_id=str(event.obligation_id),
        ):
            issue(
                session,
                domain.Delivery(
                    referral_id, agency, agency.agency_type, ReferralPurpose.PLAN_LINE.value
                ),
                case_id=str(event.case_id),
                region=event.region,
                report_id=None,
                code=event.code,
                legal_basis=event.legal_basis,
                sender=Party("child_rights_regional", event.from_agency_id),
                obligation_id=str(event.obligation_id),
                envelope=new_envelope(now, cause=event),
                deps=deps,
                now=now,
            )
        session.commit()
