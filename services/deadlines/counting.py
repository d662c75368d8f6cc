"""How deadlines counts a term: the shared calendar, plus "none", warnings and occurrences.

REGULATIONS.md "Time" gives the rules; shared.calendar implements them. What deadlines adds:
- the term "none" for rows whose text sets no term (R2, R16, R20, F4, F6): tracked and listed,
  never due, never breached;
- the due-soon point a deployment sets;
- recurring duties (quarterly monitoring, "recurring:3") counted one occurrence at a time, each
  from the plan's start, so that a plan started on the 31st keeps the last-day-of-month rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from shared.calendar import Term, TermKind, WorkingCalendar
from shared.clock import ALMATY
from shared.contracts.vocabulary import NO_TERM

DAY_KINDS = frozenset(
    {TermKind.WORKING_DAYS, TermKind.CALENDAR_DAYS, TermKind.MONTHS, TermKind.RECURRING}
)


@dataclass(frozen=True)
class WarningPolicy:
    """Where the due-soon warning falls, as a deployment sets it."""

    # Before the end of a term in hours (by default an hour before).
    before_hours: timedelta = timedelta(hours=1)
    # 0: at the start of the last working day of a term in days; n: n working days earlier.
    working_days_before: int = 0

    def __post_init__(self) -> None:
        if self.before_hours < timedelta(0):
            raise ValueError("warning before_hours must not be negative")
        if self.working_days_before < 0:
            raise ValueError("warning working_days_before must not be negative")


DEFAULT_WARNING = WarningPolicy()


@dataclass(frozen=True)
class Counted:
    """An obligation's due time and due-soon point (both None for a term of "none")."""

    due_at: datetime | None
    warn_at: datetime | None


def parse_term(text: str) -> Term | None:
    """Read a term's compact form; "none" (no term in the text) reads as None."""
    if text == NO_TERM:
        return None
    return Term.parse(text)


def is_day_term(term: Term | None) -> bool:
    """True for terms counted in days, whose due times a calendar change can move."""
    return term is not None and term.kind in DAY_KINDS


def count(
    calendar: WorkingCalendar,
    term: Term | None,
    started_at: datetime,
    *,
    occurrence: int = 0,
    warning: WarningPolicy = DEFAULT_WARNING,
) -> Counted:
    """Count a term (or one occurrence of a recurring one) from its start."""
    if term is None:
        return Counted(None, None)
    if term.kind is TermKind.RECURRING:
        if occurrence < 1:
            raise ValueError("a recurring term is counted one occurrence at a time, from 1")
        # The k-th occurrence falls k * every months after the plan's start: the months rule.
        due = calendar.due_at(Term.months(occurrence * term.amount), started_at)
    else:
        due = calendar.due_at(term, started_at)
    return Counted(due, warn_point(calendar, term, started_at, due, warning=warning))


def warn_point(
    calendar: WorkingCalendar,
    term: Term,
    started_at: datetime,
    due_at: datetime,
    *,
    warning: WarningPolicy = DEFAULT_WARNING,
) -> datetime | None:
    """The due-soon point of a term; None for "immediately", which is due at once."""
    if term.kind is TermKind.IMMEDIATE:
        return None
    warn = calendar.warning_at(term, started_at, due_at, warn_before_hours=warning.before_hours)
    if term.kind in DAY_KINDS and warning.working_days_before:
        day = warn.astimezone(ALMATY).date()
        for _ in range(warning.working_days_before):
            day -= timedelta(days=1)
            while not calendar.is_working_day(day):
                day -= timedelta(days=1)
        warn = max(datetime.combine(day, time.min, tzinfo=ALMATY), started_at.astimezone(ALMATY))
    return warn if warn < due_at else None
