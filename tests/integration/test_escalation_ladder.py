"""A breach climbs the real ladder: first the late agency's supervisor, then the prosecutor.

Each step cites the ladder's clause (services/deadlines/seed/ladder.json), on the escalation
event, the escalation obligation and the case's timeline. Real databases, a FixedClock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from services.deadlines import views
from services.deadlines.handlers import fire_due, on_obligation_opened
from shared.clock import ALMATY
from tests.integration.test_deadlines_lifecycle import (
    BREACHED,
    ESCALATED,
    T0,
    case_rows,
    clock,
    make_deps,
    opened,
    published,
    row,
)

EDUCATION_STEP = "Rules 38874, p.3.3, p.32"
PROSECUTOR_STEP = "Rules 38874, p.3.15, p.32"


def test_a_schools_breach_goes_to_the_education_authority_then_the_prosecutor(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="immediate", code="R4", actor="education_org", actor_id="school-17")
    on_obligation_opened(event, deps=deps)

    clock(deps).set(T0 + timedelta(minutes=15))
    assert fire_due(deps=deps).escalated == 1
    first = published(engine, ESCALATED)[0]
    assert (first["level"], first["supervisor_agency_type"]) == (1, "education_authority")
    assert first["escalation_legal_basis"] == EDUCATION_STEP
    # The duty's own clause stays what the supervisor enforces.
    assert first["legal_basis"] == "Rules 38874, p.12.1"
    assert published(engine, BREACHED)[0]["escalation_legal_basis"] == EDUCATION_STEP
    level1 = row(engine, first["escalation_obligation_id"])
    assert (level1["actor_agency_type"], level1["escalation_basis"]) == (
        "education_authority",
        EDUCATION_STEP,
    )
    shown = {
        o["obligation_id"]: o for o in views.case_obligations(deps, case_id=str(event.case_id))
    }
    assert shown[first["escalation_obligation_id"]]["escalation_basis"] == EDUCATION_STEP
    assert shown[str(event.obligation_id)]["escalation_basis"] is None

    # The education authority is late too: the regional prosecutor's office, on its clause.
    clock(deps).set(datetime(2026, 11, 24, 0, 0, tzinfo=ALMATY))
    fire_due(deps=deps)
    second = published(engine, ESCALATED)[1]
    assert (second["level"], second["supervisor_agency_type"]) == (2, "prosecutor")
    assert second["escalation_legal_basis"] == PROSECUTOR_STEP
    assert second["breached_actor_agency_type"] == "education_authority"
    levels = [
        (r["escalation_level"], r["actor_agency_type"], r["escalation_basis"])
        for r in case_rows(engine, event.case_id)
    ]
    assert levels == [
        (0, "education_org", None),
        (1, "education_authority", EDUCATION_STEP),
        (2, "prosecutor", PROSECUTOR_STEP),
    ]

    # The timeline shows each step with its clause.
    timeline = views.case_timeline(deps, case_id=str(event.case_id))
    steps = [
        (e["event"], e["agency_type"], e["legal_basis"])
        for e in timeline
        if e["event"] == "deadlines.obligation_escalated"
    ]
    assert steps == [
        ("deadlines.obligation_escalated", "education_authority", EDUCATION_STEP),
        ("deadlines.obligation_escalated", "prosecutor", PROSECUTOR_STEP),
    ]


def test_a_health_organisation_goes_to_the_health_department_first(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="immediate", code="R17", actor="healthcare", actor_id="kz-75-healthcare")
    on_obligation_opened(event, deps=deps)
    clock(deps).set(T0 + timedelta(minutes=15))
    fire_due(deps=deps)
    first = published(engine, ESCALATED)[0]
    assert (first["supervisor_agency_type"], first["escalation_legal_basis"]) == (
        "health_authority",
        "Rules 38874, p.3.13, p.32",
    )


def test_a_regional_body_goes_to_its_national_body(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    on_obligation_opened(opened(term="hours:1"), deps=deps)
    clock(deps).set(T0 + timedelta(hours=1))
    fire_due(deps=deps)
    first = published(engine, ESCALATED)[0]
    assert (first["supervisor_agency_type"], first["escalation_legal_basis"]) == (
        "child_rights_national",
        "Rules 38874, p.12.1, p.32",
    )
