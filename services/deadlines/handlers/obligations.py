"""Obligations as producers open, fulfil and cancel them.

Each `apply_*` works in its caller's transaction (a batch of messages, or one); each `on_*`
handles one event in a transaction of its own: claim its inbox entry, apply, commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from opentelemetry import trace
from sqlmodel import Session

from services.deadlines import domain, repository
from services.deadlines.counting import count, parse_term
from services.deadlines.handlers import pending
from services.deadlines.handlers.common import (
    CANCELLED_SUBJECT,
    IDS,
    SERVICE,
    DeadlinesDeps,
    TimelineRow,
    announce,
    emit,
    envelope,
    local,
    opened_now,
    refused,
)
from services.deadlines.tables import Obligation
from shared.calendar import WorkingCalendar
from shared.contracts.deadlines import ObligationMet
from shared.contracts.envelope import Event
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.db import is_postgres, key_exists, unit_of_work
from shared.inbox import claim
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

# --- opening ------------------------------------------------------------------------------

# The columns that describe the duty (what, under which clause, who acts for whom, where, for
# how long), taken as they are from the event that opens it.
_DUTY = frozenset(
    {
        "code",
        "legal_basis",
        "actor_agency_type",
        "actor_agency_id",
        "target_agency_type",
        "target_agency_id",
        "region",
        "term",
        "started_at",
    }
)


OPENED_INBOX = "deadlines-obligation_opened"
# Where a session notes the series its transaction opened (not yet flushed).
_OPENED_HERE = "qorgau.deadlines.opened"


def _opened_here(session: Session) -> dict[str, list[Obligation]]:
    """Return the series this transaction opened, by series id, with every occurrence it added."""
    # Looked up here rather than in the table: a query would flush the batch's rows first (one
    # flush per fulfilment instead of one per batch), and these are not in the table yet.
    key = (_OPENED_HERE, session.get_transaction())
    found: dict[str, list[Obligation]] = session.info.setdefault(key, {})
    return found


def _series(session: Session, series_id: str, *, lock: bool) -> list[Obligation]:
    """Return a series' occurrences, first first: from this transaction's, else the table."""
    here = _opened_here(session).get(series_id)
    if here is not None:
        return sorted(here, key=lambda each: each.occurrence)
    return repository.of_series(session, series_id=series_id, lock=lock)


def on_obligation_opened(event: ObligationOpened, *, deps: DeadlinesDeps) -> None:
    """Record an obligation with its due time counted in Kazakhstan working time."""
    with unit_of_work(deps.engine) as session:
        if claim(
            session, consumer=OPENED_INBOX, event_id=str(event.event_id), now=deps.clock.now()
        ):
            apply_obligation_opened(session, event, deps=deps)
            session.commit()


def apply_obligation_opened(
    session: Session, event: ObligationOpened, *, deps: DeadlinesDeps
) -> None:
    """Record an opened obligation in the caller's transaction (its inbox entry claimed)."""
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
    pending.hold(session, obligation_id=str(event.obligation_id))
    # Without flushing the batch's earlier rows first: one flush per batch, not per opening;
    # the openings this transaction added are known from the session instead.
    opened_here = _opened_here(session)
    if str(event.obligation_id) in opened_here or key_exists(
        session, Obligation, str(event.obligation_id)
    ):
        return
    calendar = deps.calendars.current(session)
    occurrence = domain.first_occurrence(term)
    counted = count(
        calendar, term, event.started_at, occurrence=occurrence, warning=deps.policy.warning
    )
    obligation = opened_now(
        counted,
        now=now,
        **event.model_dump(include=set(_DUTY)),
        obligation_id=str(event.obligation_id),
        case_id=str(event.case_id),
        series_id=str(event.obligation_id),
        occurrence=occurrence,
        opened_by=event.producer or "unknown",
        correlation_id=str(event.correlation_id),
        opened_event_id=str(event.event_id),
    )
    session.add(obligation)
    opened_here[obligation.series_id] = [obligation]
    timeline: list[TimelineRow] = []
    announce(
        session,
        obligation,
        now=now,
        cause=event,
        timeline=timeline,
        target_agency_id=obligation.target_agency_id,
        target_agency_type=obligation.target_agency_type,
    )
    repository.add_timeline(session, timeline)
    # What arrived before the opening is applied now, as if it had come after it.
    for early in pending.take(session, obligation_id=obligation.obligation_id, now=now):
        if isinstance(early, ObligationFulfilled):
            _fulfil(session, early, deps=deps, now=now)
        else:
            _withdraw(session, early, now=now)


# --- fulfilment and cancellation ----------------------------------------------------------


@dataclass(frozen=True)
class _Withdrawal:
    """A cancellation under way: why, when, what caused it, and the timeline it writes to."""

    session: Session
    reason: str
    now: datetime
    cause: Event | None
    timeline: list[TimelineRow]


def _cancel(withdrawal: _Withdrawal, obligation: Obligation) -> None:
    reason, now = withdrawal.reason, withdrawal.now
    obligation.status = domain.cancel(domain.Status(obligation.status), reason=reason).value
    obligation.cancelled_at = now
    obligation.cancel_reason = reason[:200]
    withdrawal.session.add(obligation)
    emit(
        withdrawal.session,
        ObligationCancelled(
            **envelope(obligation, now=now, cause=withdrawal.cause),
            obligation_id=uuid.UUID(obligation.obligation_id),
            code=obligation.code,
            reason=reason,
        ),
        now=now,
        timeline=withdrawal.timeline,
        subject=CANCELLED_SUBJECT,
        obligation=obligation,
    )


def _cancel_escalations(withdrawal: _Withdrawal, obligation: Obligation, *, lock: bool) -> int:
    """Withdraw the open escalations a breach set climbing; breached ones stay on record."""
    cancelled = 0
    frontier = [obligation.obligation_id]
    while frontier:
        parent = frontier.pop()
        escalations = repository.escalations_of(withdrawal.session, obligation_id=parent, lock=lock)
        for escalation in escalations:
            if escalation.status == domain.Status.OPEN:
                _cancel(withdrawal, escalation)
                cancelled += 1
            elif escalation.status == domain.Status.BREACHED:
                frontier.append(escalation.obligation_id)
    return cancelled


# What the next occurrence of a recurring duty keeps: the duty, and its case, series and
# origin. Every occurrence counts from the plan's start (REGULATIONS.md "quarterly").
_SAME_DUTY = _DUTY | {"case_id", "series_id", "opened_by", "correlation_id"}


def _next_occurrence(
    session: Session,
    met: Obligation,
    *,
    calendar: WorkingCalendar,
    deps: DeadlinesDeps,
    now: datetime,
    cause: Event,
    timeline: list[TimelineRow],
) -> Obligation | None:
    """Schedule the occurrence after `met` of a recurring duty (meeting one schedules the next)."""
    term = parse_term(met.term)
    occurrence = domain.next_occurrence(term, met.occurrence)
    if occurrence is None:
        return None
    next_id = str(uuid.uuid5(IDS, f"occurrence|{met.series_id}|{occurrence}"))
    if repository.get(session, obligation_id=next_id) is not None:
        return None
    counted = count(
        calendar, term, met.started_at, occurrence=occurrence, warning=deps.policy.warning
    )
    following = opened_now(
        counted,
        now=now,
        **{column: getattr(met, column) for column in _SAME_DUTY},
        obligation_id=next_id,
        occurrence=occurrence,
        opened_event_id=str(cause.event_id),
    )
    session.add(following)
    here = _opened_here(session).get(following.series_id)
    if here is not None:
        here.append(following)
    announce(session, following, now=now, cause=cause, timeline=timeline)
    return following


def on_obligation_fulfilled(event: ObligationFulfilled, *, deps: DeadlinesDeps) -> None:
    """Mark an obligation met, recording when, by whom, and whether it was on time."""
    with unit_of_work(deps.engine) as session:
        if claim(session, consumer=_FULFILLED, event_id=str(event.event_id), now=deps.clock.now()):
            apply_obligation_fulfilled(session, event, deps=deps)
            session.commit()


def apply_obligation_fulfilled(
    session: Session, event: ObligationFulfilled, *, deps: DeadlinesDeps
) -> None:
    """Apply a fulfilment in the caller's transaction, or keep it until its obligation opens."""
    now = deps.clock.now()
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    if event.met_by_agency_id:
        span.set_attribute(AGENCY_ID, event.met_by_agency_id)
    pending.hold(session, obligation_id=str(event.obligation_id))
    if not _fulfil(session, event, deps=deps, now=now):
        # Published before its opening (a producer's instances race): kept until it opens.
        pending.keep(session, event, now=now)


_FULFILLED = FULFILLED_INBOX = "deadlines-obligation_fulfilled"
_CANCELLED = CANCELLED_INBOX = "deadlines-obligation_cancelled"


def _fulfil(
    session: Session, event: ObligationFulfilled, *, deps: DeadlinesDeps, now: datetime
) -> bool:
    """Apply a fulfilment to its obligation; False when no such obligation is recorded yet."""
    calendar = deps.calendars.current(session)
    postgres = is_postgres(deps.engine)
    series = _series(session, str(event.obligation_id), lock=postgres)
    if not series:
        return False
    obligation = series[domain.occurrence_to_meet([each.status for each in series])]
    try:
        outcome = domain.meet(
            domain.Status(obligation.status), met_at=event.met_at, due_at=obligation.due_at
        )
    except domain.IllegalTransition as error:
        refused(session, event, obligation, error, now=now, consumer=_FULFILLED)
        return True
    was_breached = obligation.status == domain.Status.BREACHED
    obligation.status = outcome.status.value
    obligation.on_time = outcome.on_time
    obligation.met_at = event.met_at
    obligation.met_by_agency_id = event.met_by_agency_id
    obligation.met_by_platform = event.met_by_platform
    session.add(obligation)
    timeline: list[TimelineRow] = []
    emit(
        session,
        ObligationMet(
            **event.follow(),
            occurred_at=now,
            producer=SERVICE,
            obligation_id=uuid.UUID(obligation.obligation_id),
            code=obligation.code,
            met_at=event.met_at,
            due_at=local(obligation.due_at),
            on_time=outcome.on_time,
            met_by_agency_id=event.met_by_agency_id,
            met_by_platform=event.met_by_platform,
            series_id=uuid.UUID(obligation.series_id),
            occurrence=obligation.occurrence,
            was_breached=was_breached,
        ),
        now=now,
        timeline=timeline,
        obligation=obligation,
        agency_id=event.met_by_agency_id,
        on_time=outcome.on_time,
        acted_at=event.met_at,
    )
    if was_breached:
        # Someone acted: the escalation climbing above this obligation can stop.
        reason = f"escalated obligation {obligation.code} met"
        withdrawal = _Withdrawal(session, reason, now, event, timeline)
        _cancel_escalations(withdrawal, obligation, lock=postgres)
    _next_occurrence(
        session,
        obligation,
        calendar=calendar,
        deps=deps,
        now=now,
        cause=event,
        timeline=timeline,
    )
    repository.add_timeline(session, timeline)
    return True


def on_obligation_cancelled(event: ObligationCancelled, *, deps: DeadlinesDeps) -> None:
    """Cancel a producer's obligation with its reason, and the escalations it set climbing."""
    with unit_of_work(deps.engine) as session:
        if claim(session, consumer=_CANCELLED, event_id=str(event.event_id), now=deps.clock.now()):
            apply_obligation_cancelled(session, event, deps=deps)
            session.commit()


def apply_obligation_cancelled(
    session: Session, event: ObligationCancelled, *, deps: DeadlinesDeps
) -> None:
    """Apply a cancellation in the caller's transaction, or keep it until its obligation opens."""
    now = deps.clock.now()
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, str(event.case_id))
    span.set_attribute(OBLIGATION_CODE, event.code)
    pending.hold(session, obligation_id=str(event.obligation_id))
    if not _withdraw(session, event, now=now):
        pending.keep(session, event, now=now)


def _withdraw(session: Session, event: ObligationCancelled, *, now: datetime) -> bool:
    """Apply a cancellation to its obligation; False when no such obligation is recorded yet."""
    postgres = session.get_bind().dialect.name == "postgresql"
    series = _series(session, str(event.obligation_id), lock=postgres)
    if not series:
        return False
    timeline: list[TimelineRow] = []
    cancelled = 0
    withdrawal = _Withdrawal(session, event.reason, now, event, timeline)
    for obligation in series:
        if obligation.status == domain.Status.OPEN:
            _cancel(withdrawal, obligation)
            cancelled += 1
        reason = f"escalated obligation {obligation.code} cancelled: {event.reason}"
        cancelled += _cancel_escalations(
            replace(withdrawal, reason=reason), obligation, lock=postgres
        )
    if not cancelled:
        last = series[-1]
        try:
            domain.cancel(domain.Status(last.status), reason=event.reason)
        except domain.IllegalTransition as error:
            refused(session, event, last, error, now=now, consumer=_CANCELLED)
    repository.add_timeline(session, timeline)
    return True
