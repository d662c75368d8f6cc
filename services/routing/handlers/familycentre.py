"""The family centre's work that routing delivers: redirects, plan lines, emergency measures and
shelter referrals (`centre_delivery`), and admissions with children (`person_admitted`, F10).

Routing owns the directory and every delivery to an agency's subject, so what the centre sends
another organisation reaches it as a referral; an admission is judged by the catalogue's rows
with the trigger `admitted` by `family_support_centre` (F10, Family Centre Rules p.26).
"""

from __future__ import annotations

import json
import logging
import uuid

from services.routing import domain, repository
from services.routing.domain import Party
from services.routing.domain.decisions import IDS, decide_on_admission
from services.routing.handlers.common import RoutingDeps, decision_span, new_envelope
from services.routing.handlers.delivery import carry_out, case_facts, issue
from services.routing.handlers.shelter_places import ShelterChoice, choose_shelter, stage_no_room
from services.routing.tables import RoutingCase
from shared.contracts.familycentre import CentreDelivery, PersonAdmitted
from shared.contracts.routing import ReferralPurpose
from shared.db import unit_of_work
from shared.inbox import claim

log = logging.getLogger(__name__)

CENTRE = "family_support_centre"
# A redirect (p.13.1, p.14.1) and a shelter referral (p.24) hand the case over; a plan line
# (p.16) or an emergency measure (p.22) asks the organisation to act by its term.
PURPOSES = {
    "redirect": ReferralPurpose.TRANSFER,
    "shelter_referral": ReferralPurpose.TRANSFER,
    "plan_line": ReferralPurpose.ACTION,
    "emergency_measure": ReferralPurpose.ACTION,
}


def on_centre_delivery(event: CentreDelivery, *, deps: RoutingDeps) -> None:
    """Deliver what the family centre sends another organisation, on that agency's subject."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-centre_delivery", event_id=str(event.event_id), now=now
        ):
            return
        row = repository.get_agency(session, agency_id=event.to_agency_id)
        purpose = PURPOSES.get(event.what)
        if row is None or purpose is None:
            # The centre checks the organisation against the directory: a producer bug.
            log.error("centre delivery %s to %s not deliverable", event.what, event.to_agency_id)
            session.commit()
            return
        agency = domain.Agency(row.agency_id, row.agency_type, row.region, row.active)
        choice = ShelterChoice(agency, agency.agency_type, escalated=False)
        if event.what == "shelter_referral":
            # F8: the centre's shelter, unless it reported no free place (then one with room).
            choice = choose_shelter(
                session,
                region=event.region,
                directory=repository.directory_for(session, region=event.region),
                rules=deps.rules,
                preferred=agency,
            )
            agency = choice.agency
            if choice.escalated:
                purpose = ReferralPurpose.ESCALATION
        referral_id = str(uuid.uuid5(IDS, f"centre|{event.delivery_id}"))
        envelope = new_envelope(now, cause=event)
        with decision_span(
            deps,
            event.code,
            decision=f"centre_{event.what}",
            case_id=str(event.case_id) if event.case_id else None,
            agency_type=agency.agency_type,
            agency_id=agency.agency_id,
            legal_basis=event.legal_basis,
            obligation_id=str(event.obligation_id),
        ):
            referral = issue(
                session,
                domain.Delivery(referral_id, agency, choice.role, purpose.value),
                case_id=str(event.case_id),
                region=event.region,
                report_id=None,
                code=event.code,
                legal_basis=event.legal_basis,
                sender=Party(CENTRE, event.from_agency_id),
                obligation_id=str(event.obligation_id),
                envelope=envelope,
                deps=deps,
                now=now,
            )
            if choice.escalated:
                stage_no_room(session, referral, envelope=envelope, now=now)
        session.commit()


def on_person_admitted(event: PersonAdmitted, *, deps: RoutingDeps) -> None:
    """Open what an admission brings (F10 with minor children) and deliver its notices."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-person_admitted", event_id=str(event.event_id), now=now
        ):
            return
        case_id = str(event.case_id)
        case = repository.get_case(session, case_id=case_id)
        flags = {"accompanying_minors"} if event.accompanying_minors > 0 else set()
        if case is None:
            # A case that began at the centre: routing learns it from the admission (an adult
            # with signs of domestic violence, p.23), with the stay as its first record.
            case = RoutingCase(
                case_id=case_id,
                region=event.region,
                subject_kind="adult",
                concerns=json.dumps(["domestic_violence"]),
                flags=json.dumps(sorted(flags)),
                reporter_agency_type=CENTRE,
                reporter_agency_id=event.centre_agency_id,
                received_at=event.admitted_at,
                first_report_id=str(event.stay_id),
                opened_at=now,
            )
        else:
            case.flags = json.dumps(sorted(set(json.loads(case.flags)) | flags))
        session.add(case)
        session.flush()
        decision = decide_on_admission(
            case=case_facts(case),
            admitting=domain.Receiver(
                CENTRE, Party(CENTRE, event.centre_agency_id), event.admitted_at
            ),
            rules=deps.rules,
            directory=repository.directory_for(session, region=case.region),
            now=now,
            applied=repository.duty_keys(session, case_id=case_id),
        )
        carry_out(
            session,
            decision.duties,
            case=case,
            report_id=None,
            envelope=new_envelope(now, cause=event),
            deps=deps,
            now=now,
        )
        session.commit()
