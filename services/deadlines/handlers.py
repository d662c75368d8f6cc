"""Deadlines' handlers: load, ask the domain, stage events in the outbox, commit.

Lock order on PostgreSQL, everywhere: the calendar row first, then obligation rows. A calendar
change takes the calendar row for update and re-counts open obligations; openings, fulfilments
and the poller take it for share, so a change never races a term being counted.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

from opentelemetry import propagate, trace
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session

from services.deadlines import domain, repository
from services.deadlines.counting import Counted, WarningPolicy, count, is_day_term, parse_term
from services.deadlines.tables import CalendarOverride, Obligation
from shared.calendar import CalendarOverrides, Term, TermKind, WorkingCalendar
from shared.clock import ALMATY, Clock
from shared.contracts.deadlines import (
    ObligationBreached,
    ObligationDueSoon,
    ObligationEscalated,
    ObligationMet,
    ObligationRescheduled,
    ObligationScheduled,
)
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.db import is_postgres, unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

log = logging.getLogger(__name__)

SERVICE = "deadlines"
# Ids derived from what caused them: replaying a breach or a fulfilment yields the same rows.
IDS = uuid.UUID("0f5c2b1e-3a8d-4c5e-9b7a-1d2e3f4a5b6c")
CANCELLED_SUBJECT = ObligationCancelled.subject(SERVICE)


class UnknownObligation(LookupError):
    """An event names an obligation not (yet) recorded: retried, then dead-lettered."""


@dataclass(frozen=True)
class Policy:
    """A deployment's choices: warnings, escalation chain and term, the immediate grace."""

    warning: WarningPolicy = field(default_factory=WarningPolicy)
    chain: domain.EscalationChain = field(default_factory=domain.EscalationChain)
    escalation_term: Term = field(default_factory=lambda: Term.working_days(1))
    immediate_grace: timedelta = timedelta(minutes=15)
    batch: int = 500

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError("poll batch must be at least 1")


class CalendarBook:
    """The working calendar in force: the overrides table, rebuilt when its version moves."""

    def __init__(self, *, immediate_grace: timedelta) -> None:
        self._grace = immediate_grace
        self._lock = threading.Lock()
        self._version = -1
        self._calendar = WorkingCalendar(immediate_grace=immediate_grace)

    def current(self, session: Session, *, share_lock: bool = True) -> WorkingCalendar:
        """The calendar for this transaction (on PostgreSQL, held steady until commit)."""
        version = repository.calendar_version(session, share_lock=share_lock)
        with self._lock:
            if version > self._version:
                self._calendar = self.build(repository.overrides(session))
                self._version = version
            return self._calendar

    def build(self, rows: Iterable[CalendarOverride]) -> WorkingCalendar:
        """A calendar with the given day transfers."""
        rows = list(rows)
        overrides = CalendarOverrides(
            days_off=frozenset(r.day for r in rows if r.kind == "day_off"),
            working_days=frozenset(r.day for r in rows if r.kind == "working_day"),
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


# --- helpers ------------------------------------------------------------------------------


def _local(moment: datetime | None) -> datetime | None:
    # Events carry times in Kazakhstan's civil time, as the API does (rows are stored in UTC).
    return moment.astimezone(ALMATY) if moment is not None else None


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _envelope(o: Any, *, now: datetime, cause: Event | None = None) -> dict[str, Any]:
    """Envelope fields of an event about an obligation: follow the cause, else the opening."""
    if cause is not None:
        return {**cause.follow(), "occurred_at": now, "producer": SERVICE}
    return {
        "case_id": uuid.UUID(o.case_id),
        # Obligations recorded before correlation ids were kept correlate on their case.
        "correlation_id": uuid.UUID(o.correlation_id or o.case_id),
        "causation_id": _uuid(o.opened_event_id),
        "occurred_at": now,
        "producer": SERVICE,
    }


def _entry(
    event: Event,
    *,
    now: datetime,
    o: Any = None,
    agency_id: str | None = None,
    agency_type: str | None = None,
    target_agency_id: str | None = None,
    target_agency_type: str | None = None,
    on_time: bool | None = None,
    acted_at: datetime | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A timeline row for an event deadlines itself emits (acting agency: o's actor by default)."""
    if o is not None and agency_type is None:
        agency_id, agency_type = agency_id or o.actor_agency_id, o.actor_agency_type
    return {
        "case_id": str(event.case_id),
        "event_id": str(event.event_id),
        "event": f"{SERVICE}.{name or event.NAME}",
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "agency_id": agency_id,
        "agency_type": agency_type,
        "target_agency_id": target_agency_id,
        "target_agency_type": target_agency_type,
        "obligation_id": o.obligation_id if o is not None else None,
        "code": o.code if o is not None else None,
        "acted_at": acted_at,
        "on_time": on_time,
    }


def _emit(
    session: Session,
    event: Event,
    *,
    now: datetime,
    timeline: list[dict[str, Any]],
    subject: str | None = None,
    **entry: Any,
) -> None:
    """Stage an event in the outbox and note it on the case's timeline, in one transaction."""
    stage(session, event, now=now, subject=subject)
    name = "obligation_cancelled" if subject == CANCELLED_SUBJECT else None
    timeline.append(_entry(event, now=now, name=name, **entry))


def _trace_carrier() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier)


def _links(o: Any) -> list[trace.Link]:
    # A later action on a case starts its own trace, linked to the one that opened it.
    context = trace.get_current_span(propagate.extract(json.loads(o.trace_context or "{}")))
    span_context = context.get_span_context()
    return [trace.Link(span_context)] if span_context.is_valid else []


def _tag(span: trace.Span, o: Any) -> None:
    span.set_attribute(CASE_ID, o.case_id)
    span.set_attribute(OBLIGATION_CODE, o.code)
    span.set_attribute(AGENCY_TYPE, o.actor_agency_type)
    if o.actor_agency_id:
        span.set_attribute(AGENCY_ID, o.actor_agency_id)
    span.set_attribute("qorgau.obligation_id", o.obligation_id)


def _scheduled(o: Any, *, now: datetime, cause: Event | None = None) -> ObligationScheduled:
    return ObligationScheduled(
        **_envelope(o, now=now, cause=cause),
        obligation_id=uuid.UUID(o.obligation_id),
        code=o.code,
        legal_basis=o.legal_basis,
        actor_agency_type=o.actor_agency_type,
        actor_agency_id=o.actor_agency_id,
        due_at=_local(o.due_at),
        term=o.term,
        warn_at=_local(o.warn_at),
        region=o.region,
        series_id=uuid.UUID(o.series_id),
        occurrence=o.occurrence,
        escalation_level=o.escalation_level,
    )


def _refused(
    session: Session,
    event: Event,
    o: Obligation,
    error: domain.IllegalTransition,
    *,
    now: datetime,
    consumer: str,
) -> None:
    # An illegal step is never silent: it is logged (ids only) and kept on the case timeline.
    log.warning("refused %s for obligation %s (%s): %s", consumer, o.obligation_id, o.code, error)
    repository.add_timeline(
        session,
        [
            {
                "case_id": o.case_id,
                "event_id": str(event.event_id),
                "event": f"{SERVICE}.transition_refused",
                "occurred_at": event.occurred_at,
                "recorded_at": now,
                "agency_id": event.agency_id,
                "agency_type": None,
                "target_agency_id": None,
                "target_agency_type": None,
                "obligation_id": o.obligation_id,
                "code": o.code,
                "acted_at": None,
                "on_time": None,
            }
        ],
    )


# --- opening ------------------------------------------------------------------------------


def on_obligation_opened(event: ObligationOpened, *, deps: DeadlinesDeps) -> None:
    """Record an obligation with its due time counted in Kazakhstan working time."""
    now = deps.clock.now()
    if event.case_id is None:
        # Every obligation belongs to a case: a producer bug, dead-lettered rather than guessed.
        raise ValueError(f"obligation {event.obligation_id} names no case")
    term = parse_term(event.term)
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    span.set_attribute(AGENCY_TYPE, event.actor_agency_type)
    if event.actor_agency_id:
        span.set_attribute(AGENCY_ID, event.actor_agency_id)
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="deadlines-obligation_opened", event_id=str(event.event_id), now=now
        ):
            return
        if repository.get(session, obligation_id=str(event.obligation_id)) is not None:
            session.commit()
            return
        calendar = deps.calendars.current(session)
        recurring = term is not None and term.kind is TermKind.RECURRING
        occurrence = 1 if recurring else 0
        counted = count(
            calendar, term, event.started_at, occurrence=occurrence, warning=deps.policy.warning
        )
        o = Obligation(
            obligation_id=str(event.obligation_id),
            case_id=str(event.case_id),
            code=event.code,
            legal_basis=event.legal_basis,
            actor_agency_type=event.actor_agency_type,
            actor_agency_id=event.actor_agency_id,
            target_agency_type=event.target_agency_type,
            target_agency_id=event.target_agency_id,
            region=event.region,
            term=event.term,
            started_at=event.started_at,
            due_at=counted.due_at,
            warn_at=counted.warn_at,
            status=domain.Status.OPEN.value,
            series_id=str(event.obligation_id),
            occurrence=occurrence,
            opened_by=event.producer or "unknown",
            opened_at=now,
            correlation_id=str(event.correlation_id),
            opened_event_id=str(event.event_id),
            trace_context=_trace_carrier(),
        )
        session.add(o)
        timeline: list[dict[str, Any]] = []
        _emit(
            session,
            _scheduled(o, now=now, cause=event),
            now=now,
            timeline=timeline,
            o=o,
            target_agency_id=o.target_agency_id,
            target_agency_type=o.target_agency_type,
        )
        repository.add_timeline(session, timeline)
        session.commit()


# --- fulfilment and cancellation ----------------------------------------------------------


def _cancel(
    session: Session,
    o: Obligation,
    *,
    reason: str,
    now: datetime,
    cause: Event | None,
    timeline: list[dict[str, Any]],
) -> None:
    o.status = domain.cancel(domain.Status(o.status), reason=reason).value
    o.cancelled_at = now
    o.cancel_reason = reason[:200]
    session.add(o)
    _emit(
        session,
        ObligationCancelled(
            **_envelope(o, now=now, cause=cause),
            obligation_id=uuid.UUID(o.obligation_id),
            code=o.code,
            reason=reason,
        ),
        now=now,
        timeline=timeline,
        subject=CANCELLED_SUBJECT,
        o=o,
    )


def _cancel_escalations(
    session: Session,
    o: Obligation,
    *,
    reason: str,
    now: datetime,
    cause: Event | None,
    timeline: list[dict[str, Any]],
    lock: bool,
) -> int:
    """Withdraw the open escalations a breach of o set climbing; breached ones stay on record."""
    cancelled = 0
    frontier = [o.obligation_id]
    while frontier:
        parent = frontier.pop()
        for escalation in repository.escalations_of(session, obligation_id=parent, lock=lock):
            if escalation.status == domain.Status.OPEN:
                _cancel(session, escalation, reason=reason, now=now, cause=cause, timeline=timeline)
                cancelled += 1
            elif escalation.status == domain.Status.BREACHED:
                frontier.append(escalation.obligation_id)
    return cancelled


def _next_occurrence(
    session: Session,
    o: Obligation,
    *,
    calendar: WorkingCalendar,
    policy: Policy,
    now: datetime,
    cause: Event,
    timeline: list[dict[str, Any]],
) -> Obligation | None:
    """Schedule the occurrence after o of a recurring duty (meeting one schedules the next)."""
    term = parse_term(o.term)
    if term is None or term.kind is not TermKind.RECURRING:
        return None
    k = o.occurrence + 1
    next_id = str(uuid.uuid5(IDS, f"occurrence|{o.series_id}|{k}"))
    if repository.get(session, obligation_id=next_id) is not None:
        return None
    counted = count(calendar, term, o.started_at, occurrence=k, warning=policy.warning)
    nxt = Obligation(
        obligation_id=next_id,
        case_id=o.case_id,
        code=o.code,
        legal_basis=o.legal_basis,
        actor_agency_type=o.actor_agency_type,
        actor_agency_id=o.actor_agency_id,
        target_agency_type=o.target_agency_type,
        target_agency_id=o.target_agency_id,
        region=o.region,
        term=o.term,
        # Every occurrence counts from the plan's start (REGULATIONS.md "quarterly").
        started_at=o.started_at,
        due_at=counted.due_at,
        warn_at=counted.warn_at,
        status=domain.Status.OPEN.value,
        series_id=o.series_id,
        occurrence=k,
        opened_by=o.opened_by,
        opened_at=now,
        correlation_id=o.correlation_id,
        opened_event_id=str(cause.event_id),
        trace_context=_trace_carrier(),
    )
    session.add(nxt)
    _emit(session, _scheduled(nxt, now=now, cause=cause), now=now, timeline=timeline, o=nxt)
    return nxt


def on_obligation_fulfilled(event: ObligationFulfilled, *, deps: DeadlinesDeps) -> None:
    """Mark an obligation met, recording when, by whom, and whether it was on time."""
    now = deps.clock.now()
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    if event.met_by_agency_id:
        span.set_attribute(AGENCY_ID, event.met_by_agency_id)
    consumer = "deadlines-obligation_fulfilled"
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
            return
        calendar = deps.calendars.current(session)
        pg = is_postgres(deps.engine)
        series = repository.of_series(session, series_id=str(event.obligation_id), lock=pg)
        if not series:
            # Opened and fulfilled travel on separate consumers; wait for the opening.
            raise UnknownObligation(str(event.obligation_id))
        # A recurring duty answers to one id: the earliest occurrence not yet met is the one met.
        pending = [o for o in series if o.status in (domain.Status.OPEN, domain.Status.BREACHED)]
        o = pending[0] if pending else series[-1]
        try:
            outcome = domain.meet(domain.Status(o.status), met_at=event.met_at, due_at=o.due_at)
        except domain.IllegalTransition as error:
            _refused(session, event, o, error, now=now, consumer=consumer)
            session.commit()
            return
        was_breached = o.status == domain.Status.BREACHED
        o.status = outcome.status.value
        o.on_time = outcome.on_time
        o.met_at = event.met_at
        o.met_by_agency_id = event.met_by_agency_id
        o.met_by_platform = event.met_by_platform
        session.add(o)
        timeline: list[dict[str, Any]] = []
        _emit(
            session,
            ObligationMet(
                **event.follow(),
                occurred_at=now,
                producer=SERVICE,
                obligation_id=uuid.UUID(o.obligation_id),
                code=o.code,
                met_at=event.met_at,
                due_at=_local(o.due_at),
                on_time=outcome.on_time,
                met_by_agency_id=event.met_by_agency_id,
                met_by_platform=event.met_by_platform,
                series_id=uuid.UUID(o.series_id),
                occurrence=o.occurrence,
                was_breached=was_breached,
            ),
            now=now,
            timeline=timeline,
            o=o,
            agency_id=event.met_by_agency_id,
            on_time=outcome.on_time,
            acted_at=event.met_at,
        )
        if was_breached:
            # Someone acted: the escalation climbing above this obligation can stop.
            _cancel_escalations(
                session,
                o,
                reason=f"escalated obligation {o.code} met",
                now=now,
                cause=event,
                timeline=timeline,
                lock=pg,
            )
        _next_occurrence(
            session,
            o,
            calendar=calendar,
            policy=deps.policy,
            now=now,
            cause=event,
            timeline=timeline,
        )
        repository.add_timeline(session, timeline)
        session.commit()


def on_obligation_cancelled(event: ObligationCancelled, *, deps: DeadlinesDeps) -> None:
    """Cancel a producer's obligation with its reason, and the escalations it set climbing."""
    now = deps.clock.now()
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    consumer = "deadlines-obligation_cancelled"
    with unit_of_work(deps.engine) as session:
        if not claim(session, consumer=consumer, event_id=str(event.event_id), now=now):
            return
        pg = is_postgres(deps.engine)
        series = repository.of_series(session, series_id=str(event.obligation_id), lock=pg)
        if not series:
            raise UnknownObligation(str(event.obligation_id))
        timeline: list[dict[str, Any]] = []
        cancelled = 0
        for o in series:
            if o.status == domain.Status.OPEN:
                _cancel(session, o, reason=event.reason, now=now, cause=event, timeline=timeline)
                cancelled += 1
            cancelled += _cancel_escalations(
                session,
                o,
                reason=f"escalated obligation {o.code} cancelled: {event.reason}",
                now=now,
                cause=event,
                timeline=timeline,
                lock=pg,
            )
        if not cancelled:
            last = series[-1]
            try:
                domain.cancel(domain.Status(last.status), reason=event.reason)
            except domain.IllegalTransition as error:
                _refused(session, event, last, error, now=now, consumer=consumer)
        repository.add_timeline(session, timeline)
        session.commit()


# --- the timer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """One obligation the poller fired: breached or warned, and when that was committed."""

    obligation_id: str
    kind: str
    due_at: datetime
    fired_at: datetime
    committed_at: datetime


@dataclass
class FireReport:
    """What one fire_due call did."""

    breached: int = 0
    warned: int = 0
    escalated: int = 0
    chains_ended: int = 0
    fired: list[Fired] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many obligations were fired (breaches and warnings)."""
        return self.breached + self.warned


@dataclass
class _Batch:
    """One poll transaction's writes, gathered so that each kind goes in one statement.

    A burst of thousands of obligations falling due in the same second is the case the timer
    must survive: row-by-row ORM writes cost milliseconds each, a statement per kind does not.
    """

    now: datetime
    breached: list[dict[str, Any]] = field(default_factory=list)
    warned: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # Terms in days all end at 24:00, so breaches come in crowds with one due time: their
    # escalations are counted once per due time.
    counted: dict[datetime, Counted] = field(default_factory=dict)

    def emit(self, event: Event, **entry: Any) -> None:
        """Stage an event (as shared.outbox.stage does, with the current trace) and note it."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        self.outbox.append(
            {
                "event_id": str(event.event_id),
                "subject": event.subject(),
                "payload": event.model_dump_json(),
                "headers": json.dumps(carrier),
                "created_at": self.now,
                "sent_at": None,
                "attempts": 0,
                "last_error": None,
            }
        )
        self.timeline.append(_entry(event, now=self.now, **entry))

    def write(self, session: Session) -> None:
        """Write everything gathered, inside the caller's transaction."""
        repository.mark_breached(session, self.breached)
        repository.mark_warned(session, self.warned)
        repository.insert_obligations(session, self.escalations)
        repository.stage_outbox(session, self.outbox)
        repository.add_timeline(session, self.timeline)


def _breach(
    o: Any,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
) -> datetime | None:
    """Breach o (a claimed row), and open its escalation; return the escalation's due time."""
    now = batch.now
    domain.breach(domain.Status(o.status), due_at=o.due_at, now=now)
    batch.breached.append({"b_id": o.obligation_id, "b_breached_at": o.due_at, "b_fired_at": now})
    report.breached += 1
    step = domain.escalate(
        deps.policy.chain, actor_agency_type=o.actor_agency_type, level=o.escalation_level
    )
    with deps.tracer.start_as_current_span(f"deadlines.breach {o.code}", links=_links(o)) as span:
        _tag(span, o)
        span.set_attribute("qorgau.escalation_level", o.escalation_level)
        batch.emit(
            ObligationBreached(
                **_envelope(o, now=now),
                obligation_id=uuid.UUID(o.obligation_id),
                code=o.code,
                legal_basis=o.legal_basis,
                actor_agency_type=o.actor_agency_type,
                actor_agency_id=o.actor_agency_id,
                region=o.region,
                due_at=_local(o.due_at),
                breached_at=_local(o.due_at),
                detected_at=now,
                escalation_level=o.escalation_level,
                escalated_to_agency_type=step.supervisor_agency_type,
                escalation_chain_ended=step.ends,
            ),
            o=o,
            on_time=False,
        )
        if step.supervisor_agency_type is None:
            report.chains_ended += 1
            # The top of the chain: say so rather than climb forever (ids and codes only).
            log.warning(
                "escalation chain ended: obligation %s (%s) level %d, actor type %s",
                o.obligation_id,
                o.code,
                o.escalation_level,
                o.actor_agency_type,
            )
            return None
        return _open_escalation(o, step, batch, deps=deps, calendar=calendar, report=report)


def escalation_trigger(breached_at: datetime, term: Term | None) -> datetime:
    """The moment an escalation's term is counted from: the breach, as the day it ended.

    A term in days ends at 24:00, stored as 00:00 of the next day; the breach belongs to the day
    that ended, so a supervisor's term in days starts the next day, not the one after it.
    """
    return breached_at - timedelta(microseconds=1) if is_day_term(term) else breached_at


def _open_escalation(
    o: Any,
    step: domain.Escalation,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
) -> datetime | None:
    assert step.supervisor_agency_type is not None and o.due_at is not None
    now = batch.now
    term = deps.policy.escalation_term
    # The supervisor's term runs from the breach itself, not from when the poller saw it, so a
    # restart after downtime counts it as if the service had never stopped.
    counted = batch.counted.get(o.due_at)
    if counted is None:
        trigger = escalation_trigger(o.due_at, term)
        counted = count(calendar, term, trigger, warning=deps.policy.warning)
        batch.counted[o.due_at] = counted
    escalation_id = uuid.uuid5(IDS, f"escalation|{o.obligation_id}")
    root = o.root_obligation_id or o.obligation_id
    escalated = ObligationEscalated(
        **_envelope(o, now=now),
        obligation_id=uuid.UUID(o.obligation_id),
        escalation_obligation_id=escalation_id,
        code=o.code,
        legal_basis=o.legal_basis,
        level=step.level,
        supervisor_agency_type=step.supervisor_agency_type,
        region=o.region,
        due_at=counted.due_at,
        term=str(term),
        root_obligation_id=uuid.UUID(root),
        breached_actor_agency_type=o.actor_agency_type,
        breached_actor_agency_id=o.actor_agency_id,
    )
    values: dict[str, Any] = {
        "obligation_id": str(escalation_id),
        "case_id": o.case_id,
        "code": o.code,
        # The supervisor enforces the same clause the breached obligation cites.
        "legal_basis": o.legal_basis,
        "actor_agency_type": step.supervisor_agency_type,
        "actor_agency_id": None,
        "target_agency_type": o.actor_agency_type,
        "target_agency_id": o.actor_agency_id,
        "region": o.region,
        "term": str(term),
        "started_at": o.due_at,
        "due_at": counted.due_at,
        "warn_at": counted.warn_at,
        "warned": False,
        "warned_at": None,
        "status": domain.Status.OPEN.value,
        "breached_at": None,
        "fired_at": None,
        "met_at": None,
        "met_by_agency_id": None,
        "met_by_platform": False,
        "on_time": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "series_id": str(escalation_id),
        "occurrence": 0,
        "escalation_level": step.level,
        "escalates_obligation_id": o.obligation_id,
        "root_obligation_id": root,
        "opened_by": SERVICE,
        "opened_at": now,
        "correlation_id": o.correlation_id,
        "opened_event_id": str(escalated.event_id),
        "trace_context": _trace_carrier(),
    }
    batch.escalations.append(values)
    escalation = SimpleNamespace(**values)
    batch.emit(
        escalated,
        o=o,
        agency_type=step.supervisor_agency_type,
        target_agency_id=o.actor_agency_id,
        target_agency_type=o.actor_agency_type,
        on_time=False,
    )
    batch.emit(
        _scheduled(escalation, now=now, cause=escalated),
        o=escalation,
        target_agency_id=o.actor_agency_id,
        target_agency_type=o.actor_agency_type,
    )
    report.escalated += 1
    return counted.due_at


def _warn(o: Any, batch: _Batch, *, deps: DeadlinesDeps, report: FireReport) -> None:
    assert o.due_at is not None
    now = batch.now
    batch.warned.append({"b_id": o.obligation_id, "b_warned_at": now})
    report.warned += 1
    with deps.tracer.start_as_current_span(f"deadlines.due_soon {o.code}", links=_links(o)) as span:
        _tag(span, o)
        batch.emit(
            ObligationDueSoon(
                **_envelope(o, now=now),
                obligation_id=uuid.UUID(o.obligation_id),
                code=o.code,
                actor_agency_type=o.actor_agency_type,
                actor_agency_id=o.actor_agency_id,
                due_at=_local(o.due_at),
                warn_at=_local(o.warn_at),
                region=o.region,
                escalation_level=o.escalation_level,
            ),
            o=o,
        )


def fire_due(
    *, deps: DeadlinesDeps, now: datetime | None = None, batch: int | None = None
) -> FireReport:
    """Breach every open obligation due by now and warn those due soon, each exactly once.

    Each batch is one transaction: the status change and its events commit together, so a crash
    before the commit fires again after a restart and a commit means fired once. On PostgreSQL
    rows are claimed `FOR UPDATE SKIP LOCKED`, so instances share the work; on SQLite the poll
    writes the poller's row first, which serialises polls on the database's write lock.
    """
    limit = batch or deps.policy.batch
    pg = is_postgres(deps.engine)
    report = FireReport()
    at = now or deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not repository.anything_to_fire(session, now=at):
            return report
    while True:
        # Tests pass a fixed time; the service's poller takes the clock's time per batch.
        at = now or deps.clock.now()
        work = _Batch(now=at)
        fired: list[tuple[str, str, datetime]] = []
        again = False
        with unit_of_work(deps.engine) as session:
            if not pg:
                repository.tick_poller(session, now=at)
            calendar = deps.calendars.current(session)
            due = repository.claim_due(session, now=at, limit=limit, skip_locked=pg)
            for o in due:
                fired.append((o.obligation_id, "breached", o.due_at))
                escalation_due = _breach(o, work, deps=deps, calendar=calendar, report=report)
                # An escalation already due (after downtime) climbs in this same call.
                again = again or (escalation_due is not None and escalation_due <= at)
            warnings: Sequence[Any] = []
            if len(due) < limit:
                warnings = repository.claim_warnings(
                    session, now=at, limit=limit - len(due), skip_locked=pg
                )
                for o in warnings:
                    fired.append((o.obligation_id, "due_soon", o.due_at))
                    _warn(o, work, deps=deps, report=report)
            work.write(session)
            session.commit()
        committed = deps.clock.now()
        report.fired.extend(Fired(oid, kind, due_at, at, committed) for oid, kind, due_at in fired)
        if len(due) + len(warnings) < limit and not again:
            return report


# --- the calendar -------------------------------------------------------------------------


class BadOverrides(ValueError):
    """Day transfers that cannot be applied; `problems` maps each bad field to why."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class CalendarChange:
    """What a calendar change did: its version, the days it changed, what it re-counted."""

    version: int
    changed_days: tuple[date, ...]
    rescheduled: int


def parse_days(entries: object, name: str, problems: dict[str, str]) -> list[date]:
    """Read a list of 'YYYY-MM-DD' strings, noting each bad entry under `name.<index>`."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems[name] = "must be a list of dates in the form YYYY-MM-DD"
        return []
    days: list[date] = []
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, str) or len(entry) != 10:
                raise ValueError
            days.append(date.fromisoformat(entry))
        except ValueError:
            problems[f"{name}.{i}"] = "not a date in the form YYYY-MM-DD"
    return days


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
        listed = ", ".join(d.isoformat() for d in both)
        raise BadOverrides({"working_days": f"{listed} also listed in days_off"})
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        state = repository.lock_calendar(session)
        wanted = {**{d: "day_off" for d in days_off}, **{d: "working_day" for d in working_days}}
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
    timeline: list[dict[str, Any]] = []
    moved = 0
    for o in touching:
        term = parse_term(o.term)
        if not is_day_term(term):
            continue
        start = escalation_trigger(o.started_at, term) if o.escalation_level else o.started_at
        counted = count(calendar, term, start, occurrence=o.occurrence, warning=deps.policy.warning)
        if counted.due_at == o.due_at and counted.warn_at == o.warn_at:
            continue
        previous = o.due_at
        o.due_at, o.warn_at = counted.due_at, counted.warn_at
        if o.warned and o.warn_at is not None and o.warn_at > now:
            # The term moved later than the warning already given: warn again when it comes.
            o.warned, o.warned_at = False, None
        session.add(o)
        if previous == o.due_at:
            continue
        moved += 1
        _emit(
            session,
            ObligationRescheduled(
                **_envelope(o, now=now),
                obligation_id=uuid.UUID(o.obligation_id),
                code=o.code,
                previous_due_at=_local(previous),
                due_at=_local(o.due_at),
                warn_at=_local(o.warn_at),
                reason="calendar_changed",
            ),
            now=now,
            timeline=timeline,
            o=o,
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


# --- the timeline -------------------------------------------------------------------------


class _CaseEvent(BaseModel):
    """The envelope of any event on the bus, as far as the timeline needs it."""

    model_config = ConfigDict(extra="ignore")

    event_id: uuid.UUID
    occurred_at: AwareDatetime
    case_id: uuid.UUID | None = None


def _first(payload: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value[:80]
    return None


def on_case_event(subject: str, payload: dict[str, Any], *, deps: DeadlinesDeps) -> bool:
    """Put another service's event on its case's timeline (ids and codes only); False if none."""
    envelope = _CaseEvent.model_validate(payload)
    if envelope.case_id is None:
        # Not about a case (a directory change, a dead-letter alert): nothing to show.
        return False
    parts = subject.split(".")
    name = ".".join(parts[1:3]) if len(parts) >= 3 else subject
    now = deps.clock.now()
    acted_at: datetime | None = None
    if isinstance(payload.get("met_at"), str):
        try:
            acted_at = datetime.fromisoformat(payload["met_at"])
        except ValueError:
            acted_at = None
    obligation_id = _first(payload, "obligation_id")
    code = _first(payload, "code")
    entry = {
        "case_id": str(envelope.case_id),
        "event_id": str(envelope.event_id),
        "event": name[:120],
        "occurred_at": envelope.occurred_at,
        "recorded_at": now,
        # Who acted: the envelope's producing agency, else the event's own acting-agency field.
        "agency_id": _first(
            payload,
            "agency_id",
            "met_by_agency_id",
            "actor_agency_id",
            "from_agency_id",
            "reporter_agency_id",
        ),
        "agency_type": _first(
            payload, "agency_type", "actor_agency_type", "from_agency_type", "reporter_agency_type"
        ),
        "target_agency_id": _first(payload, "to_agency_id", "target_agency_id"),
        "target_agency_type": _first(
            payload, "to_agency_type", "target_agency_type", "supervisor_agency_type"
        ),
        "obligation_id": obligation_id[:36] if obligation_id else None,
        "code": code[:10] if code else None,
        "acted_at": acted_at if acted_at is not None and acted_at.tzinfo else None,
        "on_time": None,
    }
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="deadlines-timeline", event_id=str(envelope.event_id), now=now
        ):
            return False
        repository.add_timeline(session, [entry])
        session.commit()
    return True
