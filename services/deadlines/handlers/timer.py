"""The timer: breach what fell due, warn what falls due soon, open the escalations breaches call."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import propagate
from sqlmodel import Session

from services.deadlines import domain, repository
from services.deadlines.counting import Counted, count
from services.deadlines.handlers.common import (
    IDS,
    SERVICE,
    DeadlinesDeps,
    about,
    envelope,
    links,
    local,
    scheduled,
    tag,
)
from services.deadlines.tables import Obligation, TimelineEntry
from shared.calendar import WorkingCalendar
from shared.contracts.deadlines import ObligationBreached, ObligationDueSoon, ObligationEscalated
from shared.contracts.envelope import Event
from shared.db import is_postgres, unit_of_work

if TYPE_CHECKING:
    from services.deadlines.handlers.poller import _Prepared

log = logging.getLogger("services.deadlines.handlers")


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

    def merge(self, other: FireReport) -> None:
        """Add another report's counts and fired obligations to this one."""
        self.breached += other.breached
        self.warned += other.warned
        self.escalated += other.escalated
        self.chains_ended += other.chains_ended
        self.fired.extend(other.fired)


@dataclass
class _Batch:
    """Writes gathered for one transaction, as plain column dicts, one statement per kind.

    A burst of thousands of obligations falling due in the same second is the case the timer
    must survive. Building a SQLModel object per row cost more than everything else in a burst
    (profiled: eight models per breach, 55% of the time), so rows are dicts of every column,
    inserted with executemany.
    """

    now: datetime
    escalations: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # Terms in days all end at 24:00, so breaches come in crowds with one due time: their
    # escalations are counted once per due time.
    counted: dict[datetime, Counted] = field(default_factory=dict)

    def emit(self, event: Event, *, obligation: Obligation, headers: str, **entry: Any) -> None:
        """Stage an event (with the trace headers of its span) and note it on the timeline."""
        self.outbox.append(
            {
                "event_id": str(event.event_id),
                "subject": event.subject(),
                "payload": event.model_dump_json(),
                "headers": headers,
                "created_at": self.now,
                "sent_at": None,
                "attempts": 0,
                "last_error": None,
            }
        )
        self.timeline.append(_entry(event, now=self.now, obligation=obligation, **entry))

    def extend(self, other: _Batch) -> None:
        """Take another batch's writes into this one."""
        self.escalations.extend(other.escalations)
        self.outbox.extend(other.outbox)
        self.timeline.extend(other.timeline)

    def write(self, session: Session) -> None:
        """Write everything gathered, inside the caller's transaction."""
        repository.insert_obligations(session, self.escalations)
        repository.stage_outbox(session, self.outbox)
        repository.add_timeline(session, self.timeline)


# Every column of a timeline entry and of an obligation, at its default: executemany needs
# every dict of one statement to name the same columns.
_TIMELINE_DEFAULTS = {
    name: info.default for name, info in TimelineEntry.model_fields.items() if name != "id"
}
_OBLIGATION_DEFAULTS = {
    name: None if info.is_required() else info.default
    for name, info in Obligation.model_fields.items()
}


def _entry(event: Event, *, now: datetime, obligation: Obligation, **entry: Any) -> dict[str, Any]:
    """The timeline entry of an event the timer emits, as common.own_entry makes it (a dict)."""
    if entry.get("agency_type") is None:
        entry["agency_id"] = entry.get("agency_id") or obligation.actor_agency_id
        entry["agency_type"] = obligation.actor_agency_type
    return {
        **_TIMELINE_DEFAULTS,
        **entry,
        "case_id": str(event.case_id),
        "event_id": str(event.event_id),
        "event": f"{SERVICE}.{event.NAME}",
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "obligation_id": obligation.obligation_id,
        "code": obligation.code,
    }


class _Columns(dict[str, Any]):
    """A new row's column dict that also answers attribute access, as an Obligation would."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as missing:
            raise AttributeError(name) from missing


def _carrier() -> str:
    # The span's trace context, for the relay to continue it (what shared.outbox.outbox_row adds).
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier)


def _as_obligation(row: Any) -> Obligation:
    # A row read with the table's columns answers every attribute the helpers read of an
    # Obligation; building the model for each (costly in a burst) would add nothing.
    return cast(Obligation, row)


def _breach(
    obligation: Obligation,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
) -> datetime | None:
    """Stage a claimed obligation's breach and open its escalation; return the escalation's due.

    The claim (repository.claim_due) has already marked it breached in the same transaction, or
    will when the breach was prepared ahead; the obligation is given as it stood while open.
    """
    now = batch.now
    domain.breach(domain.Status.OPEN, due_at=obligation.due_at, now=now)
    report.breached += 1
    step = domain.escalate(
        deps.policy.chain,
        actor_agency_type=obligation.actor_agency_type,
        level=obligation.escalation_level,
    )
    with deps.tracer.start_as_current_span(
        f"deadlines.breach {obligation.code}", links=links(obligation)
    ) as span:
        tag(span, obligation)
        span.set_attribute("qorgau.escalation_level", obligation.escalation_level)
        headers = _carrier()
        batch.emit(
            ObligationBreached(
                **envelope(obligation, now=now),
                **about(obligation),
                legal_basis=obligation.legal_basis,
                due_at=local(obligation.due_at),
                breached_at=local(obligation.due_at),
                detected_at=now,
                escalated_to_agency_type=step.supervisor_agency_type,
                escalation_chain_ended=step.ends,
                escalation_legal_basis=step.legal_basis,
            ),
            obligation=obligation,
            headers=headers,
            on_time=False,
        )
        if step.supervisor_agency_type is None:
            report.chains_ended += 1
            return None
        return _open_escalation(
            obligation, step, batch, deps=deps, calendar=calendar, report=report, headers=headers
        )


def _open_escalation(
    breached: Obligation,
    step: domain.Escalation,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
    headers: str,
) -> datetime | None:
    assert step.supervisor_agency_type is not None and breached.due_at is not None
    now = batch.now
    term = deps.policy.escalation_term
    # The supervisor's term runs from the breach itself, not from when the poller saw it, so a
    # restart after downtime counts it as if the service had never stopped.
    counted = batch.counted.get(breached.due_at)
    if counted is None:
        trigger = domain.escalation_trigger(breached.due_at, term)
        counted = count(calendar, term, trigger, warning=deps.policy.warning)
        batch.counted[breached.due_at] = counted
    escalation_id = uuid.uuid5(IDS, f"escalation|{breached.obligation_id}")
    root = breached.root_obligation_id or breached.obligation_id
    escalated = ObligationEscalated(
        **envelope(breached, now=now),
        obligation_id=uuid.UUID(breached.obligation_id),
        escalation_obligation_id=escalation_id,
        code=breached.code,
        legal_basis=breached.legal_basis,
        level=step.level,
        supervisor_agency_type=step.supervisor_agency_type,
        region=breached.region,
        due_at=counted.due_at,
        term=str(term),
        root_obligation_id=uuid.UUID(root),
        breached_actor_agency_type=breached.actor_agency_type,
        breached_actor_agency_id=breached.actor_agency_id,
        escalation_legal_basis=step.legal_basis,
    )
    # As common.opened_now builds it, as columns: the escalation's trace is the breach's span.
    escalation = _Columns(
        _OBLIGATION_DEFAULTS,
        obligation_id=str(escalation_id),
        case_id=breached.case_id,
        code=breached.code,
        # The supervisor enforces the same clause the breached obligation cites.
        legal_basis=breached.legal_basis,
        actor_agency_type=step.supervisor_agency_type,
        actor_agency_id=None,
        target_agency_type=breached.actor_agency_type,
        target_agency_id=breached.actor_agency_id,
        region=breached.region,
        term=str(term),
        started_at=breached.due_at,
        due_at=counted.due_at,
        warn_at=counted.warn_at,
        status=domain.Status.OPEN.value,
        series_id=str(escalation_id),
        occurrence=0,
        escalation_level=step.level,
        escalates_obligation_id=breached.obligation_id,
        escalation_basis=step.legal_basis,
        root_obligation_id=root,
        opened_by=SERVICE,
        opened_at=now,
        correlation_id=breached.correlation_id,
        opened_event_id=str(escalated.event_id),
        trace_context=headers,
    )
    batch.escalations.append(escalation)
    batch.emit(
        escalated,
        obligation=breached,
        headers=headers,
        agency_type=step.supervisor_agency_type,
        target_agency_id=breached.actor_agency_id,
        target_agency_type=breached.actor_agency_type,
        on_time=False,
        legal_basis=step.legal_basis,
    )
    batch.emit(
        scheduled(_as_obligation(escalation), now=now, cause=escalated),
        obligation=_as_obligation(escalation),
        headers=headers,
        target_agency_id=breached.actor_agency_id,
        target_agency_type=breached.actor_agency_type,
        legal_basis=step.legal_basis,
    )
    report.escalated += 1
    return counted.due_at


def _warn(
    obligation: Obligation, batch: _Batch, *, deps: DeadlinesDeps, report: FireReport
) -> None:
    assert obligation.due_at is not None
    now = batch.now
    report.warned += 1
    with deps.tracer.start_as_current_span(
        f"deadlines.due_soon {obligation.code}", links=links(obligation)
    ) as span:
        tag(span, obligation)
        batch.emit(
            ObligationDueSoon(
                **envelope(obligation, now=now),
                **about(obligation),
                due_at=local(obligation.due_at),
                warn_at=local(obligation.warn_at),
            ),
            obligation=obligation,
            headers=_carrier(),
        )


def _log_chain_ended(obligation: Obligation) -> None:
    # The top of the chain: say so rather than climb forever (ids and codes only). Logged when
    # the breach commits, not when it is prepared.
    log.warning(
        "escalation chain ended: obligation %s (%s) level %d, actor type %s",
        obligation.obligation_id,
        obligation.code,
        obligation.escalation_level,
        obligation.actor_agency_type,
    )


def _fire_once(
    deps: DeadlinesDeps,
    *,
    now: datetime,
    limit: int,
    prepared: dict[str, _Prepared] | None = None,
    counted: dict[datetime, Counted] | None = None,
) -> tuple[FireReport, bool]:
    """One transaction: claim up to limit due rows (then warnings), write their effects, commit.

    Return the report and whether there may be more to fire at once (a full batch, or an
    escalation that is itself already due).
    """
    postgres = is_postgres(deps.engine)
    report = FireReport()
    work = _Batch(now=now, counted=counted if counted is not None else {})
    fired: list[tuple[str, str, datetime]] = []
    chains_ended: list[Obligation] = []
    again = False
    with unit_of_work(deps.engine) as session:
        if not postgres:
            repository.tick_poller(session, now=now)
        # The calendar before the rows, on PostgreSQL held (shared) until the commit.
        calendar = deps.calendars.current(session)
        due = repository.claim_due(session, now=now, limit=limit, skip_locked=postgres)
        for row in due:
            obligation = _as_obligation(row)
            assert obligation.due_at is not None
            fired.append((obligation.obligation_id, "breached", obligation.due_at))
            ready = prepared.pop(obligation.obligation_id, None) if prepared else None
            if ready is not None and ready.stands(row, calendar):
                ready.into(work)
                report.breached += 1
                report.escalated += ready.escalated
                report.chains_ended += ready.chain_ended
                escalation_due = ready.escalation_due
                ended = ready.chain_ended
            else:
                before = report.chains_ended
                escalation_due = _breach(
                    obligation, work, deps=deps, calendar=calendar, report=report
                )
                ended = report.chains_ended > before
            if ended:
                chains_ended.append(obligation)
            # An escalation already due (after downtime) climbs in this same call.
            again = again or (escalation_due is not None and escalation_due <= now)
        warnings: Sequence[Any] = []
        if len(due) < limit:
            warnings = repository.claim_warnings(
                session, now=now, limit=limit - len(due), skip_locked=postgres
            )
            for row in warnings:
                obligation = _as_obligation(row)
                assert obligation.due_at is not None
                fired.append((obligation.obligation_id, "due_soon", obligation.due_at))
                _warn(obligation, work, deps=deps, report=report)
        work.write(session)
        session.commit()
    committed = deps.clock.now()
    for obligation in chains_ended:
        _log_chain_ended(obligation)
    report.fired.extend(
        Fired(obligation_id, kind, due_at, now, committed) for obligation_id, kind, due_at in fired
    )
    return report, again or len(due) + len(warnings) >= limit


def fire_due(
    *, deps: DeadlinesDeps, now: datetime | None = None, batch: int | None = None
) -> FireReport:
    """Breach every open obligation due by now and warn those due soon, each exactly once.

    Each batch is one transaction: the claim (the status change) and its effects commit
    together, so a crash before the commit fires again after a restart and a commit means fired
    once. On PostgreSQL rows are claimed `FOR UPDATE SKIP LOCKED`, so instances share the work;
    on SQLite the poll writes the poller's row first, which serialises polls on the database's
    write lock.
    """
    limit = batch or deps.policy.batch
    report = FireReport()
    with unit_of_work(deps.engine) as session:
        if not repository.anything_to_fire(session, now=now or deps.clock.now()):
            return report
    while True:
        # Tests pass a fixed time; the service's poller takes the clock's time per batch.
        done, again = _fire_once(deps, now=now or deps.clock.now(), limit=limit)
        report.merge(done)
        if not again:
            return report
