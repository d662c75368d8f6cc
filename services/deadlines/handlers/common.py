"""What every deadlines handler shares: its dependencies, the calendar in force, event envelopes.

Lock order on PostgreSQL, everywhere: the calendar row first, then obligation rows. A calendar
change takes the calendar row for update and re-counts open obligations; openings, fulfilments
and the poller take it for share, so a change never races a term being counted.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from opentelemetry import propagate, trace
from sqlalchemy import Engine
from sqlmodel import Session

from services.deadlines import domain, repository
from services.deadlines.counting import Counted
from services.deadlines.domain import Policy
from services.deadlines.tables import CalendarOverride, Obligation
from shared.calendar import CalendarOverrides, WorkingCalendar
from shared.clock import ALMATY, Clock
from shared.contracts.deadlines import ObligationScheduled
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationCancelled
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

log = logging.getLogger("services.deadlines.handlers")

SERVICE = "deadlines"
# Ids derived from what caused them: replaying a breach or a fulfilment yields the same rows.
IDS = uuid.UUID("0f5c2b1e-3a8d-4c5e-9b7a-1d2e3f4a5b6c")
CANCELLED_SUBJECT = ObligationCancelled.subject(SERVICE)


# Where a session keeps the calendar it read in its current transaction.
_CALENDAR_KEY = "qorgau.deadlines.calendar"


class CalendarBook:
    """The working calendar in force: the overrides table, rebuilt when its version moves."""

    def __init__(self, *, immediate_grace: timedelta) -> None:
        self._grace = immediate_grace
        self._lock = threading.Lock()
        self._version = -1
        self._calendar = WorkingCalendar(immediate_grace=immediate_grace)

    def current(self, session: Session, *, share_lock: bool = True) -> WorkingCalendar:
        """The calendar for this transaction (on PostgreSQL, held steady until commit)."""
        # A batch of a hundred openings is one transaction: the version is read (and on
        # PostgreSQL share-locked until commit) once for it, not once per obligation.
        transaction = session.get_transaction()
        known = session.info.get(_CALENDAR_KEY)
        if known is not None and known[0] is transaction and known[1] >= share_lock:
            return cast("WorkingCalendar", known[2])
        version = repository.calendar_version(session, share_lock=share_lock)
        with self._lock:
            if version > self._version:
                self._calendar = self.build(repository.overrides(session))
                self._version = version
            calendar = self._calendar
        transaction = session.get_transaction()
        if transaction is not None:
            session.info[_CALENDAR_KEY] = (transaction, share_lock, calendar)
        return calendar

    def build(self, rows: Iterable[CalendarOverride]) -> WorkingCalendar:
        """A calendar with the given day transfers."""
        rows = list(rows)
        overrides = CalendarOverrides(
            days_off=frozenset(row.day for row in rows if row.kind == "day_off"),
            working_days=frozenset(row.day for row in rows if row.kind == "working_day"),
        )
        return WorkingCalendar(overrides=overrides, immediate_grace=self._grace)

    def install(self, calendar: WorkingCalendar, version: int) -> None:
        """Use a calendar just committed at version."""
        with self._lock:
            if version >= self._version:
                self._calendar, self._version = calendar, version


@dataclass
class DeadlinesDeps:
    """What deadlines' handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    policy: Policy = field(default_factory=Policy)
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer("qorgau.deadlines"))
    calendars: CalendarBook = field(init=False)

    def __post_init__(self) -> None:
        self.calendars = CalendarBook(immediate_grace=self.policy.immediate_grace)


def local(moment: datetime | None) -> datetime | None:
    """A stored (UTC) time in Kazakhstan's civil time, as events and the API carry it."""
    return moment.astimezone(ALMATY) if moment is not None else None


def envelope(
    obligation: Obligation, *, now: datetime, cause: Event | None = None
) -> dict[str, Any]:
    """Envelope fields of an event about an obligation: follow the cause, else the opening."""
    if cause is not None:
        return {**cause.follow(), "occurred_at": now, "producer": SERVICE}
    opened_event_id = obligation.opened_event_id
    return {
        "case_id": uuid.UUID(obligation.case_id),
        # Obligations recorded before correlation ids were kept correlate on their case.
        "correlation_id": uuid.UUID(obligation.correlation_id or obligation.case_id),
        "causation_id": uuid.UUID(opened_event_id) if opened_event_id else None,
        "occurred_at": now,
        "producer": SERVICE,
    }


# A timeline entry as it is inserted: every column of TimelineEntry but its id. Built as a
# dict, not a model: the rows are only ever inserted in bulk (repository.add_timeline), and
# building and dumping a model for each cost more than the insert.
TimelineRow = dict[str, Any]


def timeline_row(
    *,
    case_id: str,
    event_id: str,
    event: str,
    occurred_at: datetime,
    recorded_at: datetime,
    agency_id: str | None = None,
    agency_type: str | None = None,
    target_agency_id: str | None = None,
    target_agency_type: str | None = None,
    obligation_id: str | None = None,
    code: str | None = None,
    acted_at: datetime | None = None,
    on_time: bool | None = None,
    legal_basis: str | None = None,
) -> TimelineRow:
    """One entry of a case's timeline: the only place one is built."""
    return {
        "case_id": case_id,
        "event_id": event_id,
        "event": event,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "agency_id": agency_id,
        "agency_type": agency_type,
        "target_agency_id": target_agency_id,
        "target_agency_type": target_agency_type,
        "obligation_id": obligation_id,
        "code": code,
        "acted_at": acted_at,
        "on_time": on_time,
        "legal_basis": legal_basis,
    }


def own_entry(
    event: Event,
    *,
    now: datetime,
    obligation: Obligation,
    subject: str | None = None,
    **entry: Any,
) -> TimelineRow:
    """The timeline entry of an event deadlines itself emits (acting: the obligation's actor)."""
    # `entry` sets the entry's other columns: agency, target agency, acted_at, on_time.
    if entry.get("agency_type") is None:
        entry["agency_id"] = entry.get("agency_id") or obligation.actor_agency_id
        entry["agency_type"] = obligation.actor_agency_type
    name = "obligation_cancelled" if subject == CANCELLED_SUBJECT else event.NAME
    return timeline_row(
        case_id=str(event.case_id),
        event_id=str(event.event_id),
        event=f"{SERVICE}.{name}",
        occurred_at=event.occurred_at,
        recorded_at=now,
        obligation_id=obligation.obligation_id,
        code=obligation.code,
        **entry,
    )


def emit(
    session: Session,
    event: Event,
    *,
    now: datetime,
    timeline: list[TimelineRow],
    obligation: Obligation,
    subject: str | None = None,
    **entry: Any,
) -> None:
    """Stage an event in the outbox and note it on the case's timeline, in one transaction."""
    stage(session, event, now=now, subject=subject)
    timeline.append(own_entry(event, now=now, obligation=obligation, subject=subject, **entry))


def trace_carrier() -> str:
    """The current trace context, as stored with an obligation for later actions to link to."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier)


def links(obligation: Obligation) -> list[trace.Link]:
    """A link to the trace that opened an obligation, if it was recorded."""
    # A later action on a case starts its own trace, linked to the one that opened it.
    context = trace.get_current_span(
        propagate.extract(json.loads(obligation.trace_context or "{}"))
    )
    span_context = context.get_span_context()
    return [trace.Link(span_context)] if span_context.is_valid else []


def tag(span: trace.Span, obligation: Obligation) -> None:
    """Put an obligation's ids and codes on a span."""
    span.set_attribute(CASE_ID, obligation.case_id)
    span.set_attribute(OBLIGATION_CODE, obligation.code)
    span.set_attribute(AGENCY_TYPE, obligation.actor_agency_type)
    if obligation.actor_agency_id:
        span.set_attribute(AGENCY_ID, obligation.actor_agency_id)
    span.set_attribute("qorgau.obligation_id", obligation.obligation_id)


def about(obligation: Obligation) -> dict[str, Any]:
    """What every event about an obligation's course names: which one, who acts, where."""
    return {
        "obligation_id": uuid.UUID(obligation.obligation_id),
        "code": obligation.code,
        "actor_agency_type": obligation.actor_agency_type,
        "actor_agency_id": obligation.actor_agency_id,
        "region": obligation.region,
        "escalation_level": obligation.escalation_level,
    }


def scheduled(
    obligation: Obligation, *, now: datetime, cause: Event | None = None
) -> ObligationScheduled:
    """The event announcing an obligation's due time."""
    return ObligationScheduled(
        **envelope(obligation, now=now, cause=cause),
        **about(obligation),
        legal_basis=obligation.legal_basis,
        due_at=local(obligation.due_at),
        term=obligation.term,
        warn_at=local(obligation.warn_at),
        series_id=uuid.UUID(obligation.series_id),
        occurrence=obligation.occurrence,
    )


def opened_now(counted: Counted, *, now: datetime, **columns: Any) -> Obligation:
    """A new open obligation, due as its term was counted, linked to the current trace."""
    return Obligation(
        **columns,
        due_at=counted.due_at,
        warn_at=counted.warn_at,
        status=domain.Status.OPEN.value,
        opened_at=now,
        trace_context=trace_carrier(),
    )


def announce(
    session: Session,
    obligation: Obligation,
    *,
    now: datetime,
    cause: Event,
    timeline: list[TimelineRow],
    **entry: Any,
) -> None:
    """Stage the event announcing a new obligation's due time and note it on the timeline."""
    event = scheduled(obligation, now=now, cause=cause)
    emit(session, event, now=now, timeline=timeline, obligation=obligation, **entry)


def refused(
    session: Session,
    event: Event,
    obligation: Obligation,
    error: domain.IllegalTransition,
    *,
    now: datetime,
    consumer: str,
) -> None:
    """Log a step the lifecycle refused and keep it on the case's timeline."""
    # An illegal step is never silent: it is logged (ids only) and kept on the case timeline.
    log.warning(
        "refused %s for obligation %s (%s): %s",
        consumer,
        obligation.obligation_id,
        obligation.code,
        error,
    )
    entry = timeline_row(
        case_id=obligation.case_id,
        event_id=str(event.event_id),
        event=f"{SERVICE}.transition_refused",
        occurred_at=event.occurred_at,
        recorded_at=now,
        agency_id=event.agency_id,
        obligation_id=obligation.obligation_id,
        code=obligation.code,
    )
    repository.add_timeline(session, [entry])
