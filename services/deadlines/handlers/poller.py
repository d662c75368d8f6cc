"""The poller: fires what is due on time, the midnight wave prepared in the seconds before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.deadlines import repository
from services.deadlines.counting import Counted
from services.deadlines.handlers.common import DeadlinesDeps
from services.deadlines.handlers.timer import (
    _OBLIGATION_DEFAULTS,
    _TIMELINE_DEFAULTS,
    FireReport,
    _as_obligation,
    _Batch,
    _breach,
    _fire_once,
)
from shared.calendar import WorkingCalendar
from shared.db import unit_of_work


class _Reading:
    """A row that notes which columns are read of it: what a prepared breach was computed from."""

    def __init__(self, row: Any) -> None:
        self._row = row
        self.read: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._row, name)
        self.read[name] = value
        return value


# Column orders of the packed rows a prepared breach keeps (tuples take a third of a dict's
# memory, and a midnight wave keeps thousands of them).
_ESCALATION_KEYS = tuple(_OBLIGATION_DEFAULTS)
_OUTBOX_KEYS = tuple(
    ("event_id", "subject", "payload", "headers", "created_at", "sent_at", "attempts", "last_error")
)
_TIMELINE_KEYS = tuple(_TIMELINE_DEFAULTS)


def _pack(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(row[key] for key in keys) for row in rows)


def _unpack(rows: tuple[tuple[Any, ...], ...], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(keys, row, strict=True)) for row in rows]


@dataclass
class _Prepared:
    """A breach computed ahead of its due time from the row as it then stood, not yet written."""

    # The columns the breach was computed from, with their values then.
    standing: tuple[tuple[str, Any], ...]
    calendar: WorkingCalendar
    now: datetime
    escalations: tuple[tuple[Any, ...], ...]
    outbox: tuple[tuple[Any, ...], ...]
    timeline: tuple[tuple[Any, ...], ...]
    escalation_due: datetime | None
    escalated: bool
    chain_ended: bool

    def stands(self, row: Any, calendar: WorkingCalendar) -> bool:
        """Whether the row (and calendar) still read as they did when this was prepared."""
        return calendar is self.calendar and all(
            getattr(row, name) == value for name, value in self.standing
        )

    def into(self, batch: _Batch) -> None:
        """Add this breach's writes to a batch."""
        batch.escalations.extend(_unpack(self.escalations, _ESCALATION_KEYS))
        batch.outbox.extend(_unpack(self.outbox, _OUTBOX_KEYS))
        batch.timeline.extend(_unpack(self.timeline, _TIMELINE_KEYS))


class Poller:
    """The service's timer: fires what is due, prepares what falls due soon, wakes on time.

    Terms in days all end at 24:00, so thousands of breaches fall due in the same instant. In
    the seconds before it, the poller reads those rows (a read, no lock) and computes each
    breach's escalation, events and timeline entries in memory. Nothing is written before the
    due time: at it, one statement per batch claims the rows still open and due (what was met,
    cancelled or moved meanwhile is not claimed), and a prepared breach is written only if its
    row and the calendar are as they were when it was prepared; otherwise it is computed again.
    An event prepared ahead says it was detected at the due time; the row's fired_at says when
    the breach was committed.
    """

    def __init__(
        self,
        deps: DeadlinesDeps,
        *,
        interval: float,
        ahead: timedelta = timedelta(seconds=30),
        keep: int = 20_000,
    ) -> None:
        self.deps = deps
        self.interval = interval
        self.ahead = ahead
        self.keep = keep
        self.prepared: dict[str, _Prepared] = {}
        self._counted: dict[datetime, Counted] = {}
        self._calendar: WorkingCalendar | None = None
        # Where preparation has read to: (due time, obligation id).
        self._cursor: tuple[datetime, str] | None = None

    def step(self) -> tuple[FireReport, float]:
        """Do one step of work; return what it fired and how long to wait before the next."""
        deps = self.deps
        now = deps.clock.now()
        with unit_of_work(deps.engine) as session:
            upcoming = repository.next_to_fire(session)
        if upcoming is not None and upcoming <= now:
            report, again = _fire_once(
                deps,
                now=now,
                limit=deps.policy.batch,
                prepared=self.prepared,
                counted=self._counted,
            )
            if again:
                return report, 0.0
            self._forget(now)
            return report, 0.0 if report.count else self.interval
        if upcoming is not None and upcoming - now <= self.ahead and self._prepare(now):
            # One batch prepared: look at the clock again before the next.
            return FireReport(), 0.0
        wait = self.interval
        if upcoming is not None:
            # Wake at the due time itself (a hair after), not at the next round of polling.
            wait = min(wait, max((upcoming - now).total_seconds() + 0.001, 0.0))
        return FireReport(), wait

    def _forget(self, now: datetime) -> None:
        # Prepared breaches whose due time passed without a claim (met, cancelled, moved, or
        # another instance's) are dropped.
        for obligation_id in [k for k, p in self.prepared.items() if p.now <= now]:
            del self.prepared[obligation_id]
        if not self.prepared:
            self._counted.clear()

    def _prepare(self, now: datetime) -> bool:
        """Prepare one batch of the breaches due within `ahead`; False when nothing is left."""
        deps = self.deps
        if len(self.prepared) >= self.keep:
            return False
        after = (now, "")
        if self._cursor is not None and self._cursor > after:
            after = self._cursor
        limit = min(deps.policy.batch, self.keep - len(self.prepared))
        with unit_of_work(deps.engine) as session:
            calendar = deps.calendars.current(session, share_lock=False)
            rows = repository.coming_due(session, after=after, until=now + self.ahead, limit=limit)
        if calendar is not self._calendar:
            # The calendar changed: due times may have moved, so start over.
            self.prepared.clear()
            self._counted.clear()
            self._calendar = calendar
        if not rows:
            return False
        for row in rows:
            assert row.due_at is not None
            reading = _Reading(row)
            # Each breach as it will be when it falls due: at its due time.
            batch = _Batch(now=row.due_at, counted=self._counted)
            report = FireReport()
            escalation_due = _breach(
                _as_obligation(reading), batch, deps=deps, calendar=calendar, report=report
            )
            self.prepared[row.obligation_id] = _Prepared(
                standing=tuple(reading.read.items()),
                calendar=calendar,
                now=row.due_at,
                escalations=_pack(batch.escalations, _ESCALATION_KEYS),
                outbox=_pack(batch.outbox, _OUTBOX_KEYS),
                timeline=_pack(batch.timeline, _TIMELINE_KEYS),
                escalation_due=escalation_due,
                escalated=bool(report.escalated),
                chain_ended=bool(report.chains_ended),
            )
        last = rows[-1]
        self._cursor = (last.due_at, last.obligation_id)
        return True
