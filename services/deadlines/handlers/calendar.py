"""Calendar changes: day transfers added or removed, and the open terms they move re-counted."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session

from services.deadlines import domain, repository
from services.deadlines.counting import count, is_day_term, parse_term
from services.deadlines.handlers.common import DeadlinesDeps, TimelineRow, emit, envelope, local
from services.deadlines.tables import CalendarOverride
from shared.calendar import CalendarOverrides, WorkingCalendar
from shared.clock import ALMATY
from shared.contracts.deadlines import ObligationRescheduled
from shared.db import is_postgres, unit_of_work

log = logging.getLogger("services.deadlines.handlers")


class BadOverrides(ValueError):
    """Day transfers that cannot be applied; `problems` maps each bad field to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class CalendarChange:
    """What a calendar change did: its version, the days it changed, what it re-counted."""

    version: int
    changed_days: tuple[date, ...]
    rescheduled: int


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ALMATY)


def apply_calendar_change(
    *,
    deps: DeadlinesDeps,
    days_off: Sequence[date] = (),
    working_days: Sequence[date] = (),
    remove: Sequence[date] = (),
    source: str = "api",
) -> CalendarChange:
    """Add (or remove) day transfers, then re-count every open obligation they can move."""
    both = sorted(set(days_off) & set(working_days))
    if both:
        listed = ", ".join(day.isoformat() for day in both)
        raise BadOverrides({"working_days": f"{listed} also listed in days_off"})
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        state = repository.lock_calendar(session)
        wanted = {
            **{day: "day_off" for day in days_off},
            **{day: "working_day" for day in working_days},
        }
        changed: set[date] = set()
        for day, kind in wanted.items():
            row = repository.override(session, day=day)
            if row is not None and row.kind == kind:
                continue
            if row is None:
                row = CalendarOverride(day=day, kind=kind, source=source, added_at=now)
            else:
                row.kind, row.source, row.added_at = kind, source, now
            session.add(row)
            changed.add(day)
        for day in remove:
            row = repository.override(session, day=day)
            if row is not None:
                session.delete(row)
                changed.add(day)
        if not changed:
            session.commit()
            return CalendarChange(state.version, (), 0)
        state.version += 1
        state.changed_at = now
        session.add(state)
        session.flush()
        calendar = deps.calendars.build(repository.overrides(session))
        rescheduled = _recount(session, calendar, changed, deps=deps, now=now)
        session.commit()
        version = state.version
    deps.calendars.install(calendar, version)
    log.info(
        "calendar version %d: %d day(s) changed, %d rescheduled", version, len(changed), rescheduled
    )
    return CalendarChange(version, tuple(sorted(changed)), rescheduled)


def _recount(
    session: Session,
    calendar: WorkingCalendar,
    changed: set[date],
    *,
    deps: DeadlinesDeps,
    now: datetime,
) -> int:
    # Only terms that overlap a changed day can move (a day transfer matters between the
    # trigger's day and the last day of the term).
    first = _start_of(min(changed))
    last = _start_of(max(changed) + timedelta(days=1))
    touching = repository.open_day_terms_touching(
        session, first=first, last=last, lock=is_postgres(deps.engine)
    )
    timeline: list[TimelineRow] = []
    moved = 0
    for obligation in touching:
        term = parse_term(obligation.term)
        if not is_day_term(term):
            continue
        start = obligation.started_at
        if obligation.escalation_level:
            start = domain.escalation_trigger(start, term)
        counted = count(
            calendar, term, start, occurrence=obligation.occurrence, warning=deps.policy.warning
        )
        if counted.due_at == obligation.due_at and counted.warn_at == obligation.warn_at:
            continue
        previous = obligation.due_at
        obligation.due_at, obligation.warn_at = counted.due_at, counted.warn_at
        if obligation.warned and obligation.warn_at is not None and obligation.warn_at > now:
            # The term moved later than the warning already given: warn again when it comes.
            obligation.warned, obligation.warned_at = False, None
        session.add(obligation)
        if previous == obligation.due_at:
            continue
        moved += 1
        emit(
            session,
            ObligationRescheduled(
                **envelope(obligation, now=now),
                obligation_id=uuid.UUID(obligation.obligation_id),
                code=obligation.code,
                previous_due_at=local(previous),
                due_at=local(obligation.due_at),
                warn_at=local(obligation.warn_at),
                reason="calendar_changed",
            ),
            now=now,
            timeline=timeline,
            obligation=obligation,
        )
    repository.add_timeline(session, timeline)
    return moved


def load_overrides_file(*, deps: DeadlinesDeps, overrides: CalendarOverrides) -> CalendarChange:
    """Apply a deployment's overrides file at start-up (a no-op when nothing in it is new)."""
    return apply_calendar_change(
        deps=deps,
        days_off=sorted(overrides.days_off),
        working_days=sorted(overrides.working_days),
        source="file",
    )
