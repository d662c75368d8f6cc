"""Kazakhstan's working-day calendar and the arithmetic of statutory terms built on it."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import holidays
from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from shared.clock import ALMATY

# Far more than any real run of days off; only a corrupt override file could exhaust it.
_MAX_SCAN_DAYS = 366

_TERM_TEXT = re.compile(r"(?P<kind>[a-z_]+)(?::(?P<amount>0|[1-9][0-9]{0,5}))?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class TermKind(StrEnum):
    """How a statutory term is counted (REGULATIONS.md, "Time: how terms are counted")."""

    IMMEDIATE = "immediate"
    HOURS = "hours"
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    MONTHS = "months"
    RECURRING = "recurring"


_DAY_KINDS = frozenset(
    {TermKind.WORKING_DAYS, TermKind.CALENDAR_DAYS, TermKind.MONTHS, TermKind.RECURRING}
)


@dataclass(frozen=True)
class Term:
    """A statutory term: its kind and how many hours, days or months it lasts."""

    kind: TermKind
    amount: int = 0

    def __post_init__(self) -> None:
        try:
            kind = TermKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in TermKind)
            raise ValueError(f"Term.kind: unknown kind {self.kind!r} (one of {known})") from None
        object.__setattr__(self, "kind", kind)
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"Term.amount must be an integer, got {self.amount!r}")
        if kind is TermKind.IMMEDIATE:
            if self.amount != 0:
                raise ValueError(f"Term.amount must be 0 for an immediate term, got {self.amount}")
        elif self.amount < 1:
            raise ValueError(f"Term.amount must be >= 1 for a {kind} term, got {self.amount}")

    @classmethod
    def immediate(cls) -> Term:
        """A term due at once (breached after the deployment's grace)."""
        return cls(TermKind.IMMEDIATE)

    @classmethod
    def hours(cls, n: int) -> Term:
        """A term of n clock hours, around the clock."""
        return cls(TermKind.HOURS, n)

    @classmethod
    def working_days(cls, n: int) -> Term:
        """A term of n working days."""
        return cls(TermKind.WORKING_DAYS, n)

    @classmethod
    def calendar_days(cls, n: int) -> Term:
        """A term of n calendar days."""
        return cls(TermKind.CALENDAR_DAYS, n)

    @classmethod
    def months(cls, n: int) -> Term:
        """A term of n months."""
        return cls(TermKind.MONTHS, n)

    @classmethod
    def years(cls, n: int) -> Term:
        """A term of n years, counted as 12 * n months."""
        return cls(TermKind.MONTHS, 12 * n)

    @classmethod
    def recurring(cls, every_months: int) -> Term:
        """A duty that falls due every `every_months` months from the plan's start."""
        return cls(TermKind.RECURRING, every_months)

    @classmethod
    def quarterly(cls) -> Term:
        """A duty that falls due every three months."""
        return cls(TermKind.RECURRING, 3)

    @classmethod
    def parse(cls, text: str) -> Term:
        """Read the compact form written by str(): "immediate" or "<kind>:<amount>"."""
        match = _TERM_TEXT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"not a term: {text!r} (expected 'immediate' or '<kind>:<amount>', "
                "e.g. 'working_days:3')"
            )
        kind, amount = match["kind"], match["amount"]
        if kind == TermKind.IMMEDIATE and amount is not None:
            raise ValueError(f"not a term: {text!r} (an immediate term takes no amount)")
        if kind != TermKind.IMMEDIATE and amount is None:
            raise ValueError(f"not a term: {text!r} (missing ':<amount>')")
        try:
            return cls(TermKind(kind), int(amount or 0))
        except ValueError as exc:
            raise ValueError(f"not a term: {text!r} ({exc})") from None

    def __str__(self) -> str:
        """The compact form that parse() reads back."""
        if self.kind is TermKind.IMMEDIATE:
            return self.kind.value
        return f"{self.kind.value}:{self.amount}"


@dataclass(frozen=True)
class CalendarOverrides:
    """A deployment's additions to the public holidays: the government's yearly day transfers."""

    days_off: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("days_off", "working_days"):
            values = frozenset(getattr(self, name))
            for value in values:
                if isinstance(value, datetime) or not isinstance(value, date):
                    raise ValueError(f"CalendarOverrides.{name}: {value!r} is not a date")
            object.__setattr__(self, name, values)
        both = self.days_off & self.working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"CalendarOverrides: {listed} both a day off and a working day")

    @classmethod
    def from_mapping(cls, data: object, *, source: str = "overrides") -> CalendarOverrides:
        """Build from {"days_off": ["YYYY-MM-DD", ...], "working_days": [...]}; both optional."""
        try:
            document = OverridesDocument.model_validate(data)
        except ValidationError as error:
            raise ValueError(f"{source}: {_explain(error)}") from None
        try:
            return cls(
                days_off=frozenset(document.days_off),
                working_days=frozenset(document.working_days),
            )
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CalendarOverrides:
        """Load a JSON overrides file; a bad entry raises ValueError naming it."""
        source = os.fspath(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_mapping(data, source=source)

    def merged(self, other: CalendarOverrides) -> CalendarOverrides:
        """Both sets of overrides together; where they disagree about a date, `other` wins."""
        return CalendarOverrides(
            days_off=(self.days_off - other.working_days) | other.days_off,
            working_days=(self.working_days - other.days_off) | other.working_days,
        )


class WorkingCalendar:
    """Working days of Kazakhstan (public holidays plus deployment overrides) and term due times."""

    def __init__(
        self,
        *,
        overrides: CalendarOverrides | None = None,
        immediate_grace: timedelta = timedelta(minutes=15),
    ) -> None:
        if immediate_grace < timedelta(0):
            raise ValueError(f"immediate_grace must not be negative, got {immediate_grace}")
        self._overrides = overrides if overrides is not None else CalendarOverrides()
        self._immediate_grace = immediate_grace

    @property
    def overrides(self) -> CalendarOverrides:
        """The deployment's day transfers in force."""
        return self._overrides

    @property
    def immediate_grace(self) -> timedelta:
        """How long an immediate term stays open before it is breached."""
        return self._immediate_grace

    def is_working_day(self, d: date) -> bool:
        """True for Monday to Friday minus holidays and days off, plus override working days."""
        _require_date(d)
        # An override working day (a transferred Saturday, or a holiday the package got wrong,
        # e.g. an estimated Eid date) wins over everything else.
        if d in self._overrides.working_days:
            return True
        if d in self._overrides.days_off or d.weekday() >= 5:
            return False
        return d not in _public_holidays(d.year)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after d."""
        return self.working_day_on_or_after(_require_date(d) + timedelta(days=1))

    def working_day_on_or_after(self, d: date) -> date:
        """d itself if it is a working day, else the next working day."""
        day = _require_date(d)
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days from {d.isoformat()}")

    def due_at(self, term: Term, start: datetime) -> datetime:
        """When a term triggered at `start` ends, in Asia/Almaty (24:00 shown as next day 00:00)."""
        _require_aware(start, "start")
        if term.kind is TermKind.IMMEDIATE:
            return _shift(start, self._immediate_grace)
        if term.kind is TermKind.HOURS:
            return _shift(start, timedelta(hours=term.amount))
        return _end_of(self._last_day(term, _local_date(start)))

    def occurrences(self, term: Term, start: datetime, until: datetime) -> list[datetime]:
        """Every due time of a recurring term (k * amount months after start) up to `until`."""
        _require_aware(start, "start")
        _require_aware(until, "until")
        if term.kind is not TermKind.RECURRING:
            raise ValueError(f"occurrences needs a recurring term, got {term}")
        origin = _local_date(start)
        found: list[datetime] = []
        k = 1
        while True:
            # Each occurrence counts from the plan's start, not from the previous one, so that
            # a plan started on the 31st keeps the last-day-of-month rule every time.
            due = _end_of(self.working_day_on_or_after(_add_months(origin, k * term.amount)))
            if due > until:
                return found
            found.append(due)
            k += 1

    def warning_at(
        self,
        term: Term,
        start: datetime,
        due: datetime,
        *,
        warn_before_hours: timedelta = timedelta(hours=1),
    ) -> datetime:
        """The due-soon point: before an hours term's end, or 00:00 of a day term's last day."""
        _require_aware(start, "start")
        _require_aware(due, "due")
        if warn_before_hours < timedelta(0):
            raise ValueError(f"warn_before_hours must not be negative, got {warn_before_hours}")
        if term.kind in _DAY_KINDS:
            local_due = due.astimezone(ALMATY)
            last_day = local_due.date()
            if local_due.time() == time.min:
                # A 24:00 end is stored as 00:00 of the next day; the last day is the one before.
                last_day -= timedelta(days=1)
            warning = datetime.combine(last_day, time.min, tzinfo=ALMATY)
        else:
            warning = _shift(due, -warn_before_hours)
        return max(warning, start).astimezone(ALMATY)

    def _last_day(self, term: Term, trigger_day: date) -> date:
        # Civil Code rules on terms (digest's Time table): counting starts the day after the
        # trigger; a last day that falls on a non-working day moves to the next working day.
        if term.kind is TermKind.WORKING_DAYS:
            day = trigger_day
            for _ in range(term.amount):
                day = self.next_working_day(day)
            return day
        if term.kind is TermKind.CALENDAR_DAYS:
            return self.working_day_on_or_after(trigger_day + timedelta(days=term.amount))
        if term.kind in (TermKind.MONTHS, TermKind.RECURRING):
            return self.working_day_on_or_after(_add_months(trigger_day, term.amount))
        raise ValueError(f"{term} is not counted in days")


@cache
def _public_holidays(year: int) -> frozenset[date]:
    # Cached per year and shared by every calendar: the package builds a year on demand.
    return frozenset(holidays.country_holidays("KZ", years=year).keys())


def _require_aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")


def _require_date(d: date) -> date:
    # A datetime would be read in whatever zone it carries; callers must take the Almaty date.
    if isinstance(d, datetime) or not isinstance(d, date):
        raise TypeError(f"expected a date (the Almaty local day), got {d!r}")
    return d


# The days the calendar counts terms on: Kazakhstan's own calendar (from its independence) up
# to a bound far past any term, so that every day's Almaty midnight is a time in UTC as well.
FIRST_DAY = date(1991, 12, 16)
LAST_DAY = date(2999, 12, 31)


def _iso_day(entry: object) -> date:
    if isinstance(entry, str) and _ISO_DATE.fullmatch(entry):
        try:
            day = date.fromisoformat(entry)
        except ValueError:
            pass
        else:
            if not FIRST_DAY <= day <= LAST_DAY:
                raise ValueError(f"a calendar day from {FIRST_DAY} to {LAST_DAY}")
            return day
    raise ValueError("not a date in the form YYYY-MM-DD")


# A calendar day as the overrides file and the API write it: exactly "YYYY-MM-DD".
IsoDay = Annotated[date, PlainValidator(_iso_day)]


class OverridesDocument(BaseModel):
    """Day transfers as written: {"days_off": ["YYYY-MM-DD", ...], "working_days": [...]}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_off: list[IsoDay] = Field(default_factory=list)
    working_days: list[IsoDay] = Field(default_factory=list)


def _explain(error: ValidationError) -> str:
    # One sentence per problem, naming the entry the way the file writes it (days_off[1]).
    problems: list[str] = []
    unknown: list[str] = []
    for each in error.errors():
        where: tuple[Any, ...] = tuple(each["loc"])
        if not where:
            problems.append(f"expected a JSON object, got {type(each['input']).__name__}")
        elif each["type"] == "extra_forbidden":
            unknown.append(str(where[0]))
        elif len(where) == 1:
            problems.append(f"{where[0]} must be a list of 'YYYY-MM-DD' strings")
        else:
            problems.append(
                f"{where[0]}[{where[1]}]: {each['input']!r} is not a date in the form YYYY-MM-DD"
            )
    if unknown:
        problems.insert(0, f"unknown key(s) {', '.join(sorted(unknown))}")
    return "; ".join(problems)


def _local_date(moment: datetime) -> date:
    # Which day a trigger falls on is decided by Kazakhstan's civil time, not by the zone given.
    return moment.astimezone(ALMATY).date()


def _shift(moment: datetime, delta: timedelta) -> datetime:
    # Clock-hour terms run on absolute time; doing it in UTC keeps any zone's offset changes out.
    return (moment.astimezone(UTC) + delta).astimezone(ALMATY)


def _end_of(day: date) -> datetime:
    # "Until 24:00 of the last day" (Civil Code, via the digest) is written as 00:00 of the next
    # day, as ARCHITECTURE.md prescribes for API times.
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ALMATY)


def _add_months(day: date, months: int) -> date:
    # Same day-of-month N months later; a month without that day ends the term on its last day
    # (relativedelta clamps to the month's last day, as the Civil Code rule wants).
    result: date = day + relativedelta(months=months)
    return result
