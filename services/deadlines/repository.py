"""Deadlines' queries: the only place that builds them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.deadlines.tables import (
    CalendarOverride,
    CalendarState,
    Obligation,
    PollerState,
    TimelineEntry,
)
from shared.contracts.intake import ReportJoined, ReportReceived
from shared.db import AwareDateTime
from shared.outbox import OutboxRow

OPEN = "open"
BREACHED = "breached"
OBLIGATIONS: sa.Table = Obligation.__table__  # type: ignore[attr-defined]
OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
TIMELINE: sa.Table = TimelineEntry.__table__  # type: ignore[attr-defined]
AWARE = AwareDateTime()

# How intake's reports of a case stand on the timeline ("<service>.<event>").
REPORT_EVENTS = tuple(f"intake.{event.NAME}" for event in (ReportReceived, ReportJoined))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def get(session: Session, *, obligation_id: str, lock: bool = False) -> Obligation | None:
    """Return an obligation by id; lock=True holds its row until commit (PostgreSQL)."""
    query = select(Obligation).where(Obligation.obligation_id == obligation_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def of_series(session: Session, *, series_id: str, lock: bool = False) -> list[Obligation]:
    """Return every occurrence of a producer's obligation, first occurrence first."""
    query = (
        select(Obligation)
        .where(Obligation.series_id == series_id, Obligation.escalation_level == 0)
        .order_by(col(Obligation.occurrence))
    )
    if lock:
        query = query.with_for_update()
    return list(session.exec(query).all())


def escalations_of(session: Session, *, obligation_id: str, lock: bool = False) -> list[Obligation]:
    """Return the escalations opened by the breach of an obligation, whatever their status."""
    query = select(Obligation).where(Obligation.escalates_obligation_id == obligation_id)
    if lock:
        query = query.with_for_update()
    return list(session.exec(query).all())


def _order() -> tuple[Any, ...]:
    return (
        col(Obligation.due_at).asc().nulls_last(),
        col(Obligation.code),
        col(Obligation.escalation_level),
        col(Obligation.obligation_id),
    )


def of_case(session: Session, *, case_id: str) -> list[Obligation]:
    """Return a case's obligations, earliest due first, those with no term last."""
    return list(
        session.exec(select(Obligation).where(Obligation.case_id == case_id).order_by(*_order()))
    )


def of_agency(
    session: Session, *, agency_id: str, status: str | None, now: datetime, limit: int
) -> list[Obligation]:
    """Return an agency's obligations: all, open, breached (unmet), or open and due soon."""
    query = select(Obligation).where(Obligation.actor_agency_id == agency_id)
    if status == "due_soon":
        query = query.where(
            Obligation.status == OPEN,
            col(Obligation.warn_at) <= now,
            col(Obligation.due_at) > now,
        )
    elif status is not None:
        query = query.where(Obligation.status == status)
    return list(session.exec(query.order_by(*_order()).limit(limit)))


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    skip_locked: bool,
    ids: Sequence[str] | None = None,
) -> list[Any]:
    """Mark open obligations due by now breached (fired now); return them as they now stand.

    One statement claims and changes the rows, so whatever was met, cancelled or moved since it
    was last read is simply not claimed. On PostgreSQL the chosen rows are locked `SKIP LOCKED`,
    so instances share a burst and never claim the same row. Rows are the table's columns (the
    attributes an Obligation has), earliest due first.
    """
    chosen = sa.select(OBLIGATIONS.c.obligation_id).where(
        OBLIGATIONS.c.status == OPEN, OBLIGATIONS.c.due_at <= now
    )
    if ids is not None:
        chosen = chosen.where(OBLIGATIONS.c.obligation_id.in_(list(ids)))
    chosen = chosen.order_by(OBLIGATIONS.c.due_at).limit(limit)
    claim = (
        sa.update(OBLIGATIONS)
        .where(OBLIGATIONS.c.obligation_id.in_(_chosen(session, chosen, skip_locked)))
        .where(OBLIGATIONS.c.status == OPEN)
        .values(status=BREACHED, breached_at=OBLIGATIONS.c.due_at, fired_at=now)
        .returning(*OBLIGATIONS.c)
    )
    rows = list(session.connection().execute(claim))
    return sorted(rows, key=lambda row: (row.due_at, row.obligation_id))


def _chosen(session: Session, chosen: sa.Select[Any], skip_locked: bool) -> Any:
    """The rows a claim updates: locked first where other instances claim too (PostgreSQL)."""
    if not skip_locked:
        # SQLite: one statement; the poller's row already holds the write lock.
        return chosen
    # PostgreSQL: lock, then update by id. Inside the UPDATE, a LIMIT ... SKIP LOCKED subquery
    # may be run again and skip the rows the statement itself just changed, claiming beyond
    # the limit (seen in testing); locking first keeps the batch to its limit.
    return list(session.execute(chosen.with_for_update(skip_locked=True)).scalars())


def claim_warnings(session: Session, *, now: datetime, limit: int, skip_locked: bool) -> list[Any]:
    """Mark open, unwarned obligations past their due-soon point (not yet due) warned."""
    chosen = (
        sa.select(OBLIGATIONS.c.obligation_id)
        .where(
            OBLIGATIONS.c.status == OPEN,
            OBLIGATIONS.c.warned == sa.false(),
            OBLIGATIONS.c.warn_at <= now,
            OBLIGATIONS.c.due_at > now,
        )
        .order_by(OBLIGATIONS.c.warn_at)
        .limit(limit)
    )
    claim = (
        sa.update(OBLIGATIONS)
        .where(
            OBLIGATIONS.c.obligation_id.in_(_chosen(session, chosen, skip_locked)),
            OBLIGATIONS.c.status == OPEN,
            OBLIGATIONS.c.warned == sa.false(),
        )
        .values(warned=True, warned_at=now)
        .returning(*OBLIGATIONS.c)
    )
    rows = list(session.connection().execute(claim))
    return sorted(rows, key=lambda row: (row.warn_at, row.obligation_id))


def coming_due(
    session: Session, *, after: tuple[datetime, str], until: datetime, limit: int
) -> list[Any]:
    """Open obligations due after `after` (due time, id) and by `until`, in that order; no lock.

    What the poller reads to prepare breaches ahead of their due time: a read, never a claim.
    """
    due_at, obligation_id = after
    query = (
        sa.select(OBLIGATIONS)
        .where(
            OBLIGATIONS.c.status == OPEN,
            OBLIGATIONS.c.due_at <= until,
            sa.or_(
                OBLIGATIONS.c.due_at > due_at,
                sa.and_(
                    OBLIGATIONS.c.due_at == due_at, OBLIGATIONS.c.obligation_id > obligation_id
                ),
            ),
        )
        .order_by(OBLIGATIONS.c.due_at, OBLIGATIONS.c.obligation_id)
        .limit(limit)
    )
    return list(session.execute(query))


def next_to_fire(session: Session) -> datetime | None:
    """The earliest due time or due-soon point still waiting (two index probes, no lock)."""
    due = session.execute(
        sa.select(OBLIGATIONS.c.due_at)
        .where(OBLIGATIONS.c.status == OPEN, OBLIGATIONS.c.due_at.is_not(None))
        .order_by(OBLIGATIONS.c.due_at)
        .limit(1)
    ).scalar()
    warn = session.execute(
        sa.select(OBLIGATIONS.c.warn_at)
        .where(
            OBLIGATIONS.c.status == OPEN,
            OBLIGATIONS.c.warned == sa.false(),
            OBLIGATIONS.c.warn_at.is_not(None),
        )
        .order_by(OBLIGATIONS.c.warn_at)
        .limit(1)
    ).scalar()
    found = [moment for moment in (due, warn) if moment is not None]
    return min(found) if found else None


def insert_obligations(
    session: Session, obligations: Sequence[Obligation | dict[str, Any]]
) -> None:
    """Insert new obligations (models, or dicts of every column alike) in one statement."""
    if obligations:
        session.connection().execute(sa.insert(OBLIGATIONS), [_values(o) for o in obligations])


def stage_outbox(session: Session, rows: Sequence[OutboxRow | dict[str, Any]]) -> None:
    """Insert outbox rows (shared.outbox.outbox_row's, or dicts alike) in one statement."""
    if rows:
        session.connection().execute(
            sa.insert(OUTBOX), [_values(row, exclude={"id"}) for row in rows]
        )


def _values(row: Any, *, exclude: set[str] | None = None) -> dict[str, Any]:
    # A dict is already a row's values (built so, because models cost most of a burst's time).
    if isinstance(row, dict):
        return row
    return dict(row.model_dump(exclude=exclude))


def anything_to_fire(session: Session, *, now: datetime) -> bool:
    """Tell cheaply (two index probes, no lock) whether a breach or a warning is waiting."""
    upcoming = next_to_fire(session)
    return upcoming is not None and upcoming <= now


def tick_poller(session: Session, *, now: datetime) -> None:
    """Write the poller's row: on SQLite this takes the write lock for the whole poll."""
    session.execute(
        sa.update(PollerState).where(col(PollerState.name) == "poller").values(ticked_at=now)
    )


def open_day_terms_touching(
    session: Session, *, first: datetime, last: datetime, lock: bool
) -> list[Obligation]:
    """Open obligations whose term (started_at to due_at) overlaps [first, last).

    These are the only ones a day transfer within [first, last) can move.
    """
    query = (
        select(Obligation)
        .where(
            Obligation.status == OPEN,
            col(Obligation.due_at).is_not(None),
            col(Obligation.started_at) < last,
            col(Obligation.due_at) > first,
        )
        .order_by(col(Obligation.obligation_id))
    )
    if lock:
        query = query.with_for_update()
    return list(session.exec(query).all())


# --- calendar -----------------------------------------------------------------------------


def calendar_version(session: Session, *, share_lock: bool = False) -> int:
    """The calendar's version; share_lock waits for (and holds off) a calendar change."""
    query = select(CalendarState.version).where(CalendarState.id == 1)
    if share_lock and _is_postgres(session):
        query = query.with_for_update(read=True)
    return int(session.exec(query).one())


def lock_calendar(session: Session) -> CalendarState:
    """Take the calendar row for a change: one change at a time, openings wait for it."""
    # A write first: it locks the row on PostgreSQL and takes SQLite's write lock, so what is
    # read next cannot be changed by anyone else before this transaction commits.
    session.execute(
        sa.update(CalendarState)
        .where(col(CalendarState.id) == 1)
        .values(version=CalendarState.version)
    )
    return session.exec(select(CalendarState).where(CalendarState.id == 1)).one()


def overrides(session: Session) -> list[CalendarOverride]:
    """Every day transfer in force, by date."""
    return list(session.exec(select(CalendarOverride).order_by(col(CalendarOverride.day))))


def override(session: Session, *, day: date) -> CalendarOverride | None:
    """The day transfer of one date, if any."""
    return session.get(CalendarOverride, day)


# --- timeline -----------------------------------------------------------------------------


def add_timeline(session: Session, entries: Sequence[TimelineEntry | dict[str, Any]]) -> None:
    """Insert timeline entries (models, or dicts of every column alike) in one statement."""
    if entries:
        session.connection().execute(
            sa.insert(TIMELINE), [_values(entry, exclude={"id"}) for entry in entries]
        )


def timeline(session: Session, *, case_id: str) -> list[TimelineEntry]:
    """A case's events in the order they happened."""
    return list(
        session.exec(
            select(TimelineEntry)
            .where(TimelineEntry.case_id == case_id)
            .order_by(col(TimelineEntry.occurred_at), col(TimelineEntry.id))
        )
    )


def obligations_by_id(session: Session, *, ids: Iterable[str]) -> dict[str, Obligation]:
    """The obligations with the given ids, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.exec(select(Obligation).where(col(Obligation.obligation_id).in_(wanted)))
    return {obligation.obligation_id: obligation for obligation in rows}


# --- compliance ---------------------------------------------------------------------------


def compliance_rows(
    session: Session,
    *,
    region: str | None,
    agency_type: str | None,
    due_from: datetime | None,
    due_to: datetime | None,
) -> list[Any]:
    """Obligations with a due time in [due_from, due_to), not cancelled, as plain rows."""
    query = sa.select(
        col(Obligation.actor_agency_id),
        col(Obligation.actor_agency_type),
        col(Obligation.region),
        col(Obligation.due_at),
        col(Obligation.met_at),
        col(Obligation.status),
    ).where(col(Obligation.due_at).is_not(None), col(Obligation.status) != "cancelled")
    if region is not None:
        query = query.where(col(Obligation.region) == region)
    if agency_type is not None:
        query = query.where(col(Obligation.actor_agency_type) == agency_type)
    if due_from is not None:
        query = query.where(col(Obligation.due_at) >= due_from)
    if due_to is not None:
        query = query.where(col(Obligation.due_at) < due_to)
    return list(session.execute(query).all())


def agency_holds_case(session: Session, *, case_id: str, agency_id: str) -> bool:
    """Tell whether an agency acts on, or is the target of, an obligation of a case."""
    found = session.exec(
        select(Obligation.obligation_id).where(
            Obligation.case_id == case_id,
            sa.or_(
                col(Obligation.actor_agency_id) == agency_id,
                col(Obligation.target_agency_id) == agency_id,
            ),
        )
    ).first()
    return found is not None


def case_standing(session: Session, *, case_id: str, agency_id: str) -> tuple[bool, bool]:
    """Tell whether deadlines knows a case, and whether the agency holds or acted on it."""
    if agency_holds_case(session, case_id=case_id, agency_id=agency_id):
        return True, True
    # An agency that acted on the case (the reporter, a sender) relates to it too.
    acted = session.exec(
        select(TimelineEntry.id).where(
            TimelineEntry.case_id == case_id, TimelineEntry.agency_id == agency_id
        )
    ).first()
    if acted is not None:
        return True, True
    # Deadlines knows a case once intake's report of it is on the timeline, which makes the
    # reporter related too. Obligations arrive on other consumers and may come first: until the
    # report is here, nobody is refused (and nobody unrelated is shown anything).
    known = (
        session.exec(
            select(TimelineEntry.id).where(
                TimelineEntry.case_id == case_id, col(TimelineEntry.event).in_(REPORT_EVENTS)
            )
        ).first()
        is not None
    )
    return known, False
