"""Due times as the deadlines service counts them, read back from its handler's rows.

Holiday facts: the `holidays` package (0.109) for KZ, 2026-2027. 2026: Jan 1-2, Jan 7, Mar 8-9,
Mar 21-25 (Nauryz with observed days), May 1, May 7, May 9/11, May 27 (estimated Eid), Jul 6,
Oct 25/26, Dec 16. 2027: Jan 1-2/4, Jan 7, Mar 8, Mar 15, Mar 21-24, May 1/3, May 7, May 9/10,
May 16, Jul 6, Oct 25, Dec 16.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from services.deadlines.counting import WarningPolicy
from services.deadlines.handlers import (
    DeadlinesDeps,
    Policy,
    apply_calendar_change,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from services.deadlines.repository import get, of_series
from shared.clock import ALMATY, FixedClock
from shared.contracts.obligations import ObligationFulfilled, ObligationOpened
from shared.db import make_engine, migrate, unit_of_work


def almaty(text: str) -> datetime:
    """An Almaty wall-clock time from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=ALMATY)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(ALMATY).isoformat() if moment is not None else None


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated SQLite database for the module: each case opens its own obligation."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('due') / 'deadlines.db'}")
    migrate(engine, "deadlines")
    yield engine
    engine.dispose()


def open_obligation(deps: DeadlinesDeps, term: str, started_at: datetime) -> tuple[str, str]:
    """Open an obligation through the handler; return (obligation id, case id)."""
    event = ObligationOpened(
        occurred_at=started_at,
        case_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        producer="routing",
        obligation_id=uuid.uuid4(),
        code="R8",
        legal_basis="Rules 38874, p.12.2",
        actor_agency_type="child_rights_regional",
        term=term,
        started_at=started_at,
        region="KZ-75",
    )
    on_obligation_opened(event, deps=deps)
    return str(event.obligation_id), str(event.case_id)


def counted(deps: DeadlinesDeps, term: str, start: str) -> tuple[str | None, str | None]:
    """(due_at, warn_at) of an obligation opened with term at start, as Almaty ISO times."""
    obligation_id, _ = open_obligation(deps, term, almaty(start))
    with unit_of_work(deps.engine) as session:
        o = get(session, obligation_id=obligation_id)
        assert o is not None
        return iso(o.due_at), iso(o.warn_at)


CASES = [
    # --- working days: counting starts the day after; ends at 24:00 of the N-th working day.
    ("working_days:1", "2026-11-20 10:00", "2026-11-24T00:00", "2026-11-23T00:00", "fri-to-mon"),
    ("working_days:1", "2026-11-21 10:00", "2026-11-24T00:00", "2026-11-23T00:00", "from-sat"),
    ("working_days:1", "2026-12-15 16:00", "2026-12-18T00:00", "2026-12-17T00:00", "indep-day"),
    ("working_days:3", "2026-03-20 09:00", "2026-03-31T00:00", "2026-03-30T00:00", "nauryz-26"),
    ("working_days:3", "2027-03-19 09:00", "2027-03-30T00:00", "2027-03-29T00:00", "nauryz-27"),
    ("working_days:10", "2026-05-04 12:00", "2026-05-21T00:00", "2026-05-20T00:00", "may-26"),
    # Across New Year: Jan 1, 2 (Sat), 4 (observed) and Orthodox Christmas on Jan 7 are off.
    ("working_days:3", "2026-12-31 15:00", "2027-01-09T00:00", "2027-01-08T00:00", "new-year"),
    ("working_days:1", "2026-12-31 23:59", "2027-01-06T00:00", "2027-01-05T00:00", "nye-late"),
    # --- calendar days: from the next day; a last day off moves to the next working day.
    ("calendar_days:7", "2026-11-16 11:00", "2026-11-24T00:00", "2026-11-23T00:00", "plain-7"),
    ("calendar_days:3", "2026-03-18 11:00", "2026-03-27T00:00", "2026-03-26T00:00", "to-nauryz"),
    ("calendar_days:7", "2026-12-25 11:00", "2027-01-06T00:00", "2027-01-05T00:00", "to-new-year"),
    ("calendar_days:7", "2026-12-29 11:00", "2027-01-06T00:00", "2027-01-05T00:00", "over-ny"),
    ("calendar_days:2", "2026-05-05 11:00", "2026-05-09T00:00", "2026-05-08T00:00", "to-may-7"),
    # --- months: the same day N months later, or the month's last day; then the working-day
    # rule. February 2026 and 2027 have 28 days.
    ("months:1", "2026-01-31 10:00", "2026-03-03T00:00", "2026-03-02T00:00", "jan31-to-feb28-sat"),
    ("months:1", "2026-03-31 10:00", "2026-05-01T00:00", "2026-04-30T00:00", "mar31-to-apr30"),
    ("months:6", "2026-08-31 10:00", "2027-03-02T00:00", "2027-03-01T00:00", "aug31-to-feb28"),
    ("months:12", "2026-02-27 10:00", "2027-03-02T00:00", "2027-03-01T00:00", "one-year-sat"),
    ("months:6", "2026-07-06 10:00", "2027-01-07T00:00", "2027-01-06T00:00", "from-capital-day"),
    ("months:1", "2026-12-04 10:00", "2027-01-06T00:00", "2027-01-05T00:00", "to-jan-4"),
    # --- clock hours: around the clock, holidays or not; warned an hour before.
    ("hours:1", "2026-11-20 10:00", "2026-11-20T11:00", "2026-11-20T10:00", "one-hour"),
    ("hours:24", "2026-12-31 18:00", "2027-01-01T18:00", "2027-01-01T17:00", "24h-new-year"),
    ("hours:3", "2026-03-21 22:30", "2026-03-22T01:30", "2026-03-22T00:30", "hours-on-holiday"),
    # --- immediately: the deployment's grace (default 15 minutes), no separate warning.
    ("immediate", "2026-11-20 10:00", "2026-11-20T10:15", None, "immediate"),
    # --- no term in the text (R2, R16, R20, F4, F6): tracked, never due.
    ("none", "2026-11-20 10:00", None, None, "none"),
]


@pytest.mark.parametrize(
    ("term", "start", "due", "warn"),
    [pytest.param(*case[:4], id=case[4]) for case in CASES],
)
def test_due_times(
    engine: Engine, term: str, start: str, due: str | None, warn: str | None
) -> None:
    deps = DeadlinesDeps(engine=engine, clock=FixedClock(almaty(start)))
    expected = tuple(f"{t}:00+05:00" if t else None for t in (due, warn))
    assert counted(deps, term, start) == expected


def test_a_trigger_is_dated_in_almaty_not_in_the_zone_it_was_given(engine: Engine) -> None:
    # 2026-11-22 20:00 UTC is already Monday 23 in Almaty: one working day ends on Tuesday 24.
    deps = DeadlinesDeps(engine=engine, clock=FixedClock(almaty("2026-11-23 01:00")))
    obligation_id, _ = open_obligation(
        deps, "working_days:1", datetime.fromisoformat("2026-11-22T20:00:00+00:00")
    )
    with unit_of_work(engine) as session:
        o = get(session, obligation_id=obligation_id)
        assert o is not None
        assert iso(o.due_at) == "2026-11-25T00:00:00+05:00"


def test_the_deployment_sets_the_immediate_grace_and_the_warning_point(engine: Engine) -> None:
    policy = Policy(
        immediate_grace=timedelta(minutes=30),
        warning=WarningPolicy(before_hours=timedelta(hours=3), working_days_before=1),
    )
    deps = DeadlinesDeps(engine=engine, clock=FixedClock(almaty("2026-12-31 15:00")), policy=policy)
    assert counted(deps, "immediate", "2026-11-20 10:00") == ("2026-11-20T10:30:00+05:00", None)
    assert counted(deps, "hours:24", "2026-12-31 18:00") == (
        "2027-01-01T18:00:00+05:00",
        "2027-01-01T15:00:00+05:00",
    )
    # One working day before the last (Fri Jan 8): Thursday Jan 7 is a holiday, so Wednesday.
    assert counted(deps, "working_days:3", "2026-12-31 15:00") == (
        "2027-01-09T00:00:00+05:00",
        "2027-01-06T00:00:00+05:00",
    )


def test_a_recurring_duty_falls_due_quarterly_from_the_plan_start(engine: Engine) -> None:
    clock = FixedClock(almaty("2026-11-30 10:00"))
    deps = DeadlinesDeps(engine=engine, clock=clock)
    series_id, case_id = open_obligation(deps, "recurring:3", almaty("2026-11-30 10:00"))
    dues = []
    for _ in range(4):
        with unit_of_work(engine) as session:
            due = of_series(session, series_id=series_id)[-1].due_at
        assert due is not None
        clock.set(due - timedelta(days=1))
        on_obligation_fulfilled(
            ObligationFulfilled(
                occurred_at=clock.now(),
                case_id=uuid.UUID(case_id),
                correlation_id=uuid.uuid4(),
                producer="shelter",
                obligation_id=uuid.UUID(series_id),
                code="R8",
                met_at=clock.now(),
                met_by_agency_id="kz-75-shelter-1",
            ),
            deps=deps,
        )
        dues.append(iso(due))
    assert dues == [
        # Feb 28 2027 is a Sunday: Monday Mar 1 is the last day.
        "2027-03-02T00:00:00+05:00",
        # May 30 is a Sunday.
        "2027-06-01T00:00:00+05:00",
        "2027-08-31T00:00:00+05:00",
        "2027-12-01T00:00:00+05:00",
    ]
    with unit_of_work(engine) as session:
        series = [
            (o.occurrence, o.status, iso(o.due_at)) for o in of_series(session, series_id=series_id)
        ]
    assert [occurrence for occurrence, _, _ in series] == [1, 2, 3, 4, 5]
    assert [status for _, status, _ in series] == ["met"] * 4 + ["open"]
    # Counted from the plan's start: 15 months after Nov 30 is Feb 29 2028 (a leap year).
    assert series[-1][2] == "2028-03-01T00:00:00+05:00"


OVERRIDE_CASES = [
    # A working Saturday (Nov 21) and an extra day off (Nov 23) moved by the government.
    ("working_days:1", "2026-11-20 10:00", "2026-11-22T00:00", "sat-works"),
    ("working_days:2", "2026-11-20 10:00", "2026-11-25T00:00", "sat-works-mon-off"),
    ("calendar_days:7", "2026-11-16 10:00", "2026-11-25T00:00", "last-day-off"),
    # A holiday the deployment declares a working day (Jan 4 2027, the observed New Year).
    ("working_days:1", "2026-12-31 10:00", "2027-01-05T00:00", "holiday-works"),
]


@pytest.fixture
def overridden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeadlinesDeps]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('over') / 'deadlines.db'}")
    migrate(engine, "deadlines")
    deps = DeadlinesDeps(engine=engine, clock=FixedClock(almaty("2026-11-01 10:00")))
    apply_calendar_change(
        deps=deps,
        days_off=[datetime(2026, 11, 23).date()],
        working_days=[datetime(2026, 11, 21).date(), datetime(2027, 1, 4).date()],
    )
    yield deps
    engine.dispose()


@pytest.mark.parametrize(
    ("term", "start", "due"),
    [pytest.param(*case[:3], id=case[3]) for case in OVERRIDE_CASES],
)
def test_due_times_with_overrides(
    overridden: DeadlinesDeps, term: str, start: str, due: str
) -> None:
    assert counted(overridden, term, start)[0] == f"{due}:00+05:00"
