"""Deadlines' rules: an obligation's states and the steps allowed between them.

Standard library only. Due times come from shared.calendar, which counts terms as
REGULATIONS.md "Time" says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """Where an obligation stands."""

    OPEN = "open"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


class IllegalTransition(ValueError):
    """A step the lifecycle does not allow (it raises; it never silently does nothing)."""


# open -> met | breached | cancelled; breached -> met (met late is still recorded).
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


def meet(current: Status, *, met_at: datetime, due_at: datetime) -> Fulfilment:
    """Meet an obligation; an action at or before the due time is on time."""
    if met_at.tzinfo is None or due_at.tzinfo is None:
        raise ValueError("met_at and due_at must be timezone-aware")
    return Fulfilment(step(current, Status.MET), met_at <= due_at)
