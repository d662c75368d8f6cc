"""Deadlines' rules: an obligation's states, occurrences, escalation, and compliance figures.

No framework: the standard library and the shared calendar. Due times are counted in
services.deadlines.counting (on the shared calendar), as REGULATIONS.md "Time" says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.deadlines.counting import WarningPolicy, is_day_term
from shared.calendar import Term, TermKind
from shared.contracts.vocabulary import ObligationStatus as Status


class IllegalTransition(ValueError):
    """A step the lifecycle does not allow (it raises; it never silently does nothing)."""


# open -> met | breached | cancelled; breached -> met (met late is still recorded). A breach is
# a fact of the record: cancelling the obligation afterwards would erase it, so it may not.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.MET, Status.BREACHED, Status.CANCELLED}),
    Status.BREACHED: frozenset({Status.MET}),
    Status.MET: frozenset(),
    Status.CANCELLED: frozenset(),
}


def step(current: Status, to: Status) -> Status:
    """Return the new status, or raise IllegalTransition."""
    if to not in ALLOWED[current]:
        raise IllegalTransition(f"an obligation that is {current} cannot become {to}")
    return to


@dataclass(frozen=True)
class Fulfilment:
    """The outcome of meeting an obligation: its status and whether it was on time."""

    status: Status
    on_time: bool


def meet(current: Status, *, met_at: datetime, due_at: datetime | None) -> Fulfilment:
    """Meet an obligation; an action at or before the due time (or with no term) is on time."""
    if met_at.tzinfo is None or (due_at is not None and due_at.tzinfo is None):
        raise ValueError("met_at and due_at must be timezone-aware")
    # Judged by when the act was done, not when the news arrived: an act done before due_at
    # but reported after the poller breached it is on time, and the breach stays on record.
    on_time = due_at is None or met_at <= due_at
    return Fulfilment(step(current, Status.MET), on_time)


def breach(current: Status, *, due_at: datetime | None, now: datetime) -> Status:
    """Breach an open obligation whose due time has passed; raise otherwise."""
    if due_at is None:
        raise IllegalTransition("an obligation with no term is never breached")
    if now < due_at:
        raise IllegalTransition(f"not due until {due_at.isoformat()}")
    return step(current, Status.BREACHED)


def cancel(current: Status, *, reason: str) -> Status:
    """Cancel an open obligation; a reason is required (e.g. the report joined another case)."""
    if not reason or not reason.strip():
        raise ValueError("a cancellation needs a reason")
    return step(current, Status.CANCELLED)


# --- occurrences of a recurring duty --------------------------------------------------------


def first_occurrence(term: Term | None) -> int:
    """The occurrence an obligation opens with: 1 for a recurring duty, 0 for any other."""
    return 1 if term is not None and term.kind is TermKind.RECURRING else 0


def next_occurrence(term: Term | None, occurrence: int) -> int | None:
    """The occurrence that meeting `occurrence` schedules, or None when the duty does not recur."""
    if term is None or term.kind is not TermKind.RECURRING:
        return None
    return occurrence + 1


def occurrence_to_meet(statuses: Sequence[str]) -> int:
    """Which occurrence a fulfilment meets (by index): the earliest not yet met, else the last."""
    # A recurring duty answers to one id, so a fulfilment names the series, not the occurrence.
    for index, status in enumerate(statuses):
        if status in (Status.OPEN, Status.BREACHED):
            return index
    return len(statuses) - 1


# --- escalation ---------------------------------------------------------------------------

# Who supervises whom is data: the ladder (services/deadlines/seed/ladder.json, read by
# services.deadlines.ladder) names each step and the clause it rests on. This is the top rung
# every ladder ends on, the regional prosecutor's office.
DEFAULT_SUPERVISOR = "prosecutor"


@dataclass(frozen=True)
class EscalationChain:
    """Who a breach climbs to: agency type -> its supervisor, a default, and each step's basis.

    `bases` names the legal basis of the step up from an agency type; `default_basis` that of
    the step to the default supervisor.
    """

    supervisors: Mapping[str, str | None] = field(default_factory=dict)
    default: str | None = DEFAULT_SUPERVISOR
    max_level: int = 5
    bases: Mapping[str, str] = field(default_factory=dict)
    default_basis: str | None = None

    def __post_init__(self) -> None:
        if self.max_level < 1:
            raise ValueError("escalation max_level must be at least 1")
        # Every chain must end: follow it from every type it names and refuse a cycle now,
        # at start-up, rather than climb forever at the first breach.
        for start in {*self.supervisors, *filter(None, self.supervisors.values())}:
            seen = [start]
            current = self.supervisor_of(start)
            while current is not None:
                if current in seen:
                    path = " -> ".join([*seen, current])
                    raise ValueError(f"escalation chain loops: {path}")
                seen.append(current)
                current = self.supervisor_of(current)

    def supervisor_of(self, agency_type: str) -> str | None:
        """The agency type that supervises agency_type, or None at the top."""
        if agency_type in self.supervisors:
            return self.supervisors[agency_type]
        return self.default if self.default != agency_type else None

    def basis_of(self, agency_type: str) -> str | None:
        """The legal basis of the step up from agency_type, or None where none is recorded."""
        if agency_type in self.supervisors:
            return self.bases.get(agency_type)
        return self.default_basis

    def validate(self, known: Iterable[str]) -> None:
        """Raise ValueError naming any agency type the chain uses that is not in known."""
        codes = set(known)
        used = {*self.supervisors, *filter(None, self.supervisors.values())}
        if self.default:
            used.add(self.default)
        unknown = sorted(used - codes)
        if unknown:
            raise ValueError(f"escalation chain: unknown agency type(s) {', '.join(unknown)}")


@dataclass(frozen=True)
class Escalation:
    """What a breach leads to: the next level and its supervisor, or the end of the chain."""

    level: int
    supervisor_agency_type: str | None
    # The clause the step rests on (the ladder's), shown on the escalation and its timeline.
    legal_basis: str | None = None

    @property
    def ends(self) -> bool:
        """True when there is no one higher to escalate to."""
        return self.supervisor_agency_type is None


def escalate(chain: EscalationChain, *, actor_agency_type: str, level: int) -> Escalation:
    """Decide where the breach of an obligation at `level` (0 = the original duty) climbs."""
    if level >= chain.max_level:
        return Escalation(level + 1, None)
    supervisor = chain.supervisor_of(actor_agency_type)
    basis = chain.basis_of(actor_agency_type) if supervisor is not None else None
    return Escalation(level + 1, supervisor, basis)


def escalation_trigger(breached_at: datetime, term: Term | None) -> datetime:
    """The moment an escalation's term is counted from: the breach, as the day it ended.

    A term in days ends at 24:00, stored as 00:00 of the next day; the breach belongs to the day
    that ended, so a supervisor's term in days starts the next day, not the one after it.
    """
    return breached_at - timedelta(microseconds=1) if is_day_term(term) else breached_at


@dataclass(frozen=True)
class Policy:
    """A deployment's choices: warnings, escalation chain and term, the immediate grace."""

    warning: WarningPolicy = field(default_factory=WarningPolicy)
    chain: EscalationChain = field(default_factory=lambda: _default_ladder())
    escalation_term: Term = field(default_factory=lambda: Term.working_days(1))
    immediate_grace: timedelta = timedelta(minutes=15)
    batch: int = 500

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError("poll batch must be at least 1")


def _default_ladder() -> EscalationChain:
    # Imported here: the ladder module reads the seed data and builds this module's chain.
    from services.deadlines.ladder import default_chain

    return default_chain()


# --- compliance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What compliance needs of one obligation: its due time, when it was met, its status."""

    due_at: datetime
    met_at: datetime | None
    status: Status


@dataclass(frozen=True)
class Figures:
    """An agency's record over a period: on-time share, lateness, breaches still open."""

    obligations: int
    met_on_time: int
    late: int
    pending: int
    on_time_percent: float | None
    median_lateness_seconds: float | None
    p90_lateness_seconds: float | None
    open_breaches: int


def percentile(values: list[float], percent: float) -> float | None:
    """The given percentile (0-100) with linear interpolation; None for no values."""
    if not values:
        return None
    if not 0 <= percent <= 100:
        raise ValueError("percent must be within 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def figures(outcomes: Iterable[Outcome], *, now: datetime) -> Figures:
    """Compute an agency's figures; lateness counts late obligations, unmet ones up to now."""
    on_time = late = pending = open_breaches = total = 0
    lateness: list[float] = []
    for outcome in outcomes:
        if outcome.status is Status.CANCELLED:
            continue
        total += 1
        met_at = outcome.met_at if outcome.status is Status.MET else None
        if met_at is not None and met_at <= outcome.due_at:
            on_time += 1
        elif met_at is not None:
            late += 1
            lateness.append((met_at - outcome.due_at) / timedelta(seconds=1))
        elif outcome.status is Status.BREACHED or outcome.due_at <= now:
            # Breached and still unmet: late by now, and the lateness keeps growing.
            late += 1
            open_breaches += 1
            lateness.append(max((now - outcome.due_at) / timedelta(seconds=1), 0.0))
        else:
            pending += 1
    decided = on_time + late
    return Figures(
        obligations=total,
        met_on_time=on_time,
        late=late,
        pending=pending,
        on_time_percent=round(100 * on_time / decided, 2) if decided else None,
        median_lateness_seconds=percentile(lateness, 50),
        p90_lateness_seconds=percentile(lateness, 90),
        open_breaches=open_breaches,
    )
