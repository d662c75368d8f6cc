"""Deadlines' domain: the lifecycle, escalation chains and compliance figures (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.deadlines.domain import (
    EscalationChain,
    IllegalTransition,
    Outcome,
    Status,
    breach,
    cancel,
    escalate,
    figures,
    meet,
    percentile,
    step,
)
from services.deadlines.ladder import default_chain, load, parse
from shared.agencies import AgencyType

DUE = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)

# --- lifecycle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (Status.OPEN, Status.MET),
        (Status.OPEN, Status.BREACHED),
        (Status.OPEN, Status.CANCELLED),
        (Status.BREACHED, Status.MET),
    ],
)
def test_allowed_steps(current: Status, to: Status) -> None:
    assert step(current, to) is to


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (Status.MET, Status.MET),
        (Status.MET, Status.BREACHED),
        (Status.MET, Status.CANCELLED),
        (Status.MET, Status.OPEN),
        (Status.BREACHED, Status.BREACHED),
        (Status.BREACHED, Status.CANCELLED),
        (Status.BREACHED, Status.OPEN),
        (Status.CANCELLED, Status.MET),
        (Status.CANCELLED, Status.BREACHED),
        (Status.CANCELLED, Status.CANCELLED),
        (Status.OPEN, Status.OPEN),
    ],
)
def test_illegal_steps_raise(current: Status, to: Status) -> None:
    with pytest.raises(IllegalTransition, match=f"{current} cannot become {to}"):
        step(current, to)


@pytest.mark.parametrize(
    ("current", "met_at", "on_time"),
    [
        pytest.param(Status.OPEN, DUE - timedelta(hours=3), True, id="open-before-due"),
        pytest.param(Status.OPEN, DUE, True, id="open-at-due-is-on-time"),
        pytest.param(Status.OPEN, DUE + timedelta(seconds=1), False, id="open-after-due"),
        pytest.param(Status.BREACHED, DUE + timedelta(days=2), False, id="met-late"),
        # Done before the due time, reported after the poller breached it: judged by the act.
        pytest.param(Status.BREACHED, DUE - timedelta(minutes=1), True, id="late-report"),
    ],
)
def test_meet(current: Status, met_at: datetime, on_time: bool) -> None:
    outcome = meet(current, met_at=met_at, due_at=DUE)
    assert outcome.status is Status.MET
    assert outcome.on_time is on_time


def test_meeting_an_obligation_without_a_term_is_on_time() -> None:
    assert meet(Status.OPEN, met_at=DUE + timedelta(days=900), due_at=None).on_time is True


def test_meeting_twice_raises() -> None:
    with pytest.raises(IllegalTransition):
        meet(Status.MET, met_at=DUE, due_at=DUE)


def test_meet_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        meet(Status.OPEN, met_at=datetime(2026, 11, 20, 10, 0), due_at=DUE)


def test_breach_only_at_or_after_the_due_time() -> None:
    assert breach(Status.OPEN, due_at=DUE, now=DUE) is Status.BREACHED
    with pytest.raises(IllegalTransition, match="not due until"):
        breach(Status.OPEN, due_at=DUE, now=DUE - timedelta(microseconds=1))


def test_an_obligation_without_a_term_is_never_breached() -> None:
    with pytest.raises(IllegalTransition, match="no term"):
        breach(Status.OPEN, due_at=None, now=DUE + timedelta(days=3650))


def test_a_breach_happens_once() -> None:
    with pytest.raises(IllegalTransition):
        breach(Status.BREACHED, due_at=DUE, now=DUE + timedelta(hours=1))


def test_cancel_needs_a_reason_and_an_open_obligation() -> None:
    assert cancel(Status.OPEN, reason="report joined case 42") is Status.CANCELLED
    with pytest.raises(ValueError, match="reason"):
        cancel(Status.OPEN, reason="  ")
    with pytest.raises(IllegalTransition):
        cancel(Status.MET, reason="too late")
    # A breach is on the record: withdrawing the duty afterwards does not erase it.
    with pytest.raises(IllegalTransition):
        cancel(Status.BREACHED, reason="report joined another case")


# --- escalation ---------------------------------------------------------------------------


def climb(chain: EscalationChain, actor: str) -> list[str | None]:
    """The supervisors a breach climbs through, level by level, until the chain ends."""
    path: list[str | None] = []
    level = 0
    current: str | None = actor
    while current is not None:
        step_ = escalate(chain, actor_agency_type=current, level=level)
        path.append(step_.supervisor_agency_type)
        current, level = step_.supervisor_agency_type, step_.level
    return path


@pytest.mark.parametrize(
    ("actor", "path"),
    [
        ("child_rights_regional", ["child_rights_national", "prosecutor", None]),
        ("guardianship", ["child_rights_national", "prosecutor", None]),
        ("ombudsman_regional", ["ombudsman_national", "prosecutor", None]),
        ("ombudsman_national", ["prosecutor", None]),
        ("police", ["prosecutor", None]),
        ("education_org", ["education_authority", "prosecutor", None]),
        ("healthcare", ["health_authority", "prosecutor", None]),
        ("emergency_medical", ["health_authority", "prosecutor", None]),
        ("shelter", ["prosecutor", None]),
        ("prosecutor", [None]),
    ],
)
def test_default_chain(actor: str, path: list[str | None]) -> None:
    assert climb(default_chain(), actor) == path


@pytest.mark.parametrize(
    ("actor", "supervisor", "basis"),
    [
        ("education_org", "education_authority", "Rules 38874, p.3.3, p.32"),
        ("healthcare", "health_authority", "Rules 38874, p.3.13, p.32"),
        ("child_rights_regional", "child_rights_national", "Rules 38874, p.12.1, p.32"),
        ("ombudsman_regional", "ombudsman_national", "Rules 38874, p.13, p.32"),
        ("education_authority", "prosecutor", "Rules 38874, p.3.15, p.32"),
        ("police", "prosecutor", "Rules 38874, p.3.15, p.32"),
    ],
)
def test_each_step_of_the_ladder_cites_its_clause(actor: str, supervisor: str, basis: str) -> None:
    step_ = escalate(default_chain(), actor_agency_type=actor, level=0)
    assert (step_.supervisor_agency_type, step_.legal_basis) == (supervisor, basis)
    # The top of the ladder is no step: nothing to cite.
    assert escalate(default_chain(), actor_agency_type="prosecutor", level=1).legal_basis is None


def test_the_ladder_is_data_and_every_step_cites_a_seed_clause() -> None:
    document = load()
    assert document.default.supervisor == "prosecutor"
    for step_ in [*document.steps, document.default]:
        assert step_.legal_basis.startswith("Rules 38874, p.")
    with pytest.raises(ValueError, match="two steps"):
        parse({**document.model_dump(), "steps": [*document.model_dump()["steps"]] * 2})


def test_levels_count_up_from_the_original_duty() -> None:
    first = escalate(default_chain(), actor_agency_type="guardianship", level=0)
    assert (first.level, first.supervisor_agency_type, first.ends) == (
        1,
        "child_rights_national",
        False,
    )
    top = escalate(default_chain(), actor_agency_type="prosecutor", level=2)
    assert (top.level, top.supervisor_agency_type, top.ends) == (3, None, True)


def test_a_configured_chain_replaces_the_default() -> None:
    chain = EscalationChain(
        supervisors={"education_org": "education_authority", "education_authority": None},
        default=None,
    )
    assert climb(chain, "education_org") == ["education_authority", None]
    # No default: a type the map does not name has no one above it.
    assert climb(chain, "police") == [None]


def test_max_level_stops_a_long_chain() -> None:
    chain = EscalationChain(
        supervisors={"other": "police", "police": "prosecutor", "prosecutor": None},
        max_level=1,
    )
    assert climb(chain, "other") == ["police", None]


@pytest.mark.parametrize(
    "supervisors",
    [
        {"police": "prosecutor", "prosecutor": "police"},
        {"other": "other"},
        {"police": "guardianship", "guardianship": "child_rights_national"},
    ],
    ids=["two-types", "self", "via-default"],
)
def test_a_chain_that_loops_is_refused(supervisors: dict[str, str | None]) -> None:
    # "via-default": child_rights_national is not listed, so it climbs to the default, police.
    with pytest.raises(ValueError, match="loops"):
        EscalationChain(supervisors=supervisors, default="police")


def test_unknown_agency_types_are_named() -> None:
    chain = EscalationChain(supervisors={"school": "ministry", "ministry": None}, default=None)
    with pytest.raises(ValueError, match="ministry, school"):
        chain.validate(t.value for t in AgencyType)
    EscalationChain().validate(t.value for t in AgencyType)


# --- compliance ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 90, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([10.0, 0.0, 20.0, 30.0, 40.0], 50, 20.0),
        ([float(v) for v in range(1, 11)], 90, 9.1),
        ([1.0, 2.0], 100, 2.0),
        ([1.0, 2.0], 0, 1.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    got = percentile(values, q)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_figures() -> None:
    now = DUE + timedelta(hours=10)
    hour = timedelta(hours=1)
    outcomes = [
        Outcome(DUE, DUE - hour, Status.MET),  # on time
        Outcome(DUE, DUE, Status.MET),  # on time, at the last moment
        Outcome(DUE, DUE + 2 * hour, Status.MET),  # met 2 h late
        Outcome(DUE, None, Status.BREACHED),  # still unmet: 10 h late by now
        Outcome(DUE + 5 * hour, None, Status.OPEN),  # due, not yet fired: 5 h late by now
        Outcome(DUE + 20 * hour, None, Status.OPEN),  # not due yet
        Outcome(DUE, None, Status.CANCELLED),  # withdrawn: not counted
    ]
    f = figures(outcomes, now=now)
    assert f.obligations == 6
    assert (f.met_on_time, f.late, f.pending, f.open_breaches) == (2, 3, 1, 2)
    assert f.on_time_percent == 40.0
    assert f.median_lateness_seconds == 5 * 3600
    assert f.p90_lateness_seconds == pytest.approx(9 * 3600)


def test_figures_of_nothing() -> None:
    f = figures([], now=DUE)
    assert f.obligations == 0
    assert f.on_time_percent is None
    assert f.median_lateness_seconds is None
