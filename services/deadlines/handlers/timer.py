"""The timer: breach what fell due, warn what falls due soon, open the escalations breaches call."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    opened_now,
    own_entry,
    scheduled,
    tag,
)
from services.deadlines.tables import Obligation, TimelineEntry
from shared.calendar import WorkingCalendar
from shared.contracts.deadlines import ObligationBreached, ObligationDueSoon, ObligationEscalated
from shared.contracts.envelope import Event
from shared.db import is_postgres, unit_of_work
from shared.outbox import OutboxRow, outbox_row

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


@dataclass
class _Batch:
    """One poll transaction's writes, gathered so that each kind goes in one statement.

    A burst of thousands of obligations falling due in the same second is the case the timer
    must survive: row-by-row ORM writes cost milliseconds each, a statement per kind does not.
    """

    now: datetime
    breached: list[dict[str, Any]] = field(default_factory=list)
    warned: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[Obligation] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    # Terms in days all end at 24:00, so breaches come in crowds with one due time: their
    # escalations are counted once per due time.
    counted: dict[datetime, Counted] = field(default_factory=dict)

    def emit(self, event: Event, *, obligation: Obligation, **entry: Any) -> None:
        """Stage an event (the outbox's own row, with the current trace) and note it."""
        self.outbox.append(outbox_row(event, now=self.now))
        self.timeline.append(own_entry(event, now=self.now, obligation=obligation, **entry))

    def write(self, session: Session) -> None:
        """Write everything gathered, inside the caller's transaction."""
        repository.mark_breached(session, self.breached)
        repository.mark_warned(session, self.warned)
        repository.insert_obligations(session, self.escalations)
        repository.stage_outbox(session, self.outbox)
        repository.add_timeline(session, self.timeline)


def _breach(
    obligation: Obligation,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
) -> datetime | None:
    """Breach a claimed obligation and open its escalation; return the escalation's due time."""
    now = batch.now
    domain.breach(domain.Status(obligation.status), due_at=obligation.due_at, now=now)
    batch.breached.append(
        {"b_id": obligation.obligation_id, "b_breached_at": obligation.due_at, "b_fired_at": now}
    )
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
            on_time=False,
        )
        if step.supervisor_agency_type is None:
            report.chains_ended += 1
            # The top of the chain: say so rather than climb forever (ids and codes only).
            log.warning(
                "escalation chain ended: obligation %s (%s) level %d, actor type %s",
                obligation.obligation_id,
                obligation.code,
                obligation.escalation_level,
                obligation.actor_agency_type,
            )
            return None
        return _open_escalation(
            obligation, step, batch, deps=deps, calendar=calendar, report=report
        )


def _open_escalation(
    breached: Obligation,
    step: domain.Escalation,
    batch: _Batch,
    *,
    deps: DeadlinesDeps,
    calendar: WorkingCalendar,
    report: FireReport,
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
    escalation = opened_now(
        counted,
        now=now,
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
        series_id=str(escalation_id),
        occurrence=0,
        escalation_level=step.level,
        escalates_obligation_id=breached.obligation_id,
        escalation_basis=step.legal_basis,
        root_obligation_id=root,
        opened_by=SERVICE,
        correlation_id=breached.correlation_id,
        opened_event_id=str(escalated.event_id),
    )
    batch.escalations.append(escalation)
    batch.emit(
        escalated,
        obligation=breached,
        agency_type=step.supervisor_agency_type,
        target_agency_id=breached.actor_agency_id,
        target_agency_type=breached.actor_agency_type,
        on_time=False,
        legal_basis=step.legal_basis,
    )
    batch.emit(
        scheduled(escalation, now=now, cause=escalated),
        obligation=escalation,
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
    batch.warned.append({"b_id": obligation.obligation_id, "b_warned_at": now})
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
    postgres = is_postgres(deps.engine)
    report = FireReport()
    with unit_of_work(deps.engine) as session:
        if not repository.anything_to_fire(session, now=now or deps.clock.now()):
            return report
    while True:
        # Tests pass a fixed time; the service's poller takes the clock's time per batch.
        polled_at = now or deps.clock.now()
        work = _Batch(now=polled_at)
        fired: list[tuple[str, str, datetime]] = []
        again = False
        with unit_of_work(deps.engine) as session:
            if not postgres:
                repository.tick_poller(session, now=polled_at)
            calendar = deps.calendars.current(session)
            due = repository.claim_due(session, now=polled_at, limit=limit, skip_locked=postgres)
            for obligation in due:
                assert obligation.due_at is not None
                fired.append((obligation.obligation_id, "breached", obligation.due_at))
                escalation_due = _breach(
                    obligation, work, deps=deps, calendar=calendar, report=report
                )
                # An escalation already due (after downtime) climbs in this same call.
                again = again or (escalation_due is not None and escalation_due <= polled_at)
            warnings: Sequence[Obligation] = []
            if len(due) < limit:
                warnings = repository.claim_warnings(
                    session, now=polled_at, limit=limit - len(due), skip_locked=postgres
                )
                for obligation in warnings:
                    assert obligation.due_at is not None
                    fired.append((obligation.obligation_id, "due_soon", obligation.due_at))
                    _warn(obligation, work, deps=deps, report=report)
            work.write(session)
            session.commit()
        committed = deps.clock.now()
        report.fired.extend(
            Fired(obligation_id, kind, due_at, polled_at, committed)
            for obligation_id, kind, due_at in fired
        )
        if len(due) + len(warnings) < limit and not again:
            return report
