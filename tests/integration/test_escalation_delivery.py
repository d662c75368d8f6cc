"""Routing delivers each rung of the ladder to the agency of that type in the case's region.

Deadlines names the supervising agency type and the step's clause; routing, which owns the
directory, finds that agency in the region (a health department where the directory has one,
else the region's last resort, the prosecutor's office) and delivers the escalation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from services.routing import handlers
from services.routing.api import AgencyIn
from shared.contracts.deadlines import ObligationEscalated
from tests.integration.test_routing_handlers import NOW, Routing, make_routing, report

HEALTH_DEPARTMENT = "kz-75-health-department"


def escalation(
    routing: Routing, *, code: str, breached: str, supervisor: str, basis: str
) -> ObligationEscalated:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    return ObligationEscalated(
        occurred_at=NOW,
        case_id=event.case_id,
        correlation_id=event.correlation_id,
        producer="deadlines",
        obligation_id=uuid.uuid4(),
        escalation_obligation_id=uuid.uuid4(),
        code=code,
        legal_basis="Rules 38874, p.11.1",
        level=1,
        supervisor_agency_type=supervisor,
        region="KZ-75",
        due_at=NOW + timedelta(days=1),
        breached_actor_agency_type=breached,
        escalation_legal_basis=basis,
    )


def delivered_to(routing: Routing, agency_id: str, event: ObligationEscalated) -> bool:
    subject = f"qorgau.agency.{agency_id}.referral_issued.v1"
    return any(
        m["purpose"] == "escalation"
        and m["escalation_obligation_id"] == str(event.escalation_obligation_id)
        for m in routing.outbox(subject=subject)
    )


def test_each_rung_reaches_the_agency_of_its_type_in_the_region(
    migrated_engine: Callable[[str], Engine],
) -> None:
    routing = make_routing(migrated_engine("routing"))
    school = escalation(
        routing,
        code="R4",
        breached="education_org",
        supervisor="education_authority",
        basis="Rules 38874, p.3.3, p.32",
    )
    handlers.on_obligation_escalated(school, deps=routing.deps)
    assert delivered_to(routing, "kz-75-education-authority", school)

    # No health department in the region's directory: the last resort takes the step.
    clinic = escalation(
        routing,
        code="R17",
        breached="healthcare",
        supervisor="health_authority",
        basis="Rules 38874, p.3.13, p.32",
    )
    handlers.on_obligation_escalated(clinic, deps=routing.deps)
    assert delivered_to(routing, "kz-75-prosecutor", clinic)

    # Once the directory has one, the health department is the first rung.
    handlers.register_agency(
        AgencyIn(
            agency_id=HEALTH_DEPARTMENT,
            agency_type="health_authority",
            region="KZ-75",
            name_kk="Алматы қаласының денсаулық сақтау басқармасы",
            name_ru="Управление здравоохранения города Алматы",
            name_en="Health department, Almaty",
        ),
        deps=routing.deps,
    )
    later = clinic.model_copy(
        update={"event_id": uuid.uuid4(), "escalation_obligation_id": uuid.uuid4()}
    )
    handlers.on_obligation_escalated(later, deps=routing.deps)
    assert delivered_to(routing, HEALTH_DEPARTMENT, later)
    assert not delivered_to(routing, "kz-75-prosecutor", later)
