"""Deadlines' tables: obligations with indexed due times, the case timeline, the calendar."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime
from shared.settlements import PendingSettlementColumns

AWARE = AwareDateTime()


class Obligation(SQLModel, table=True):
    """One tracked obligation of a case (one row per occurrence of a recurring duty)."""

    __tablename__ = "deadlines_obligations"
    __table_args__ = (
        # The poller's two questions: what is open and due, what is open and due soon.
        sa.Index("ix_deadlines_obligations_status_due_at", "status", "due_at"),
        sa.Index("ix_deadlines_obligations_status_warned_warn_at", "status", "warned", "warn_at"),
    )

    obligation_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=120)
    actor_agency_type: str = Field(max_length=40)
    actor_agency_id: str | None = Field(default=None, index=True, max_length=80)
    target_agency_type: str | None = Field(default=None, max_length=40)
    target_agency_id: str | None = Field(default=None, max_length=80)
    region: str | None = Field(default=None, max_length=10)
    term: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # None: the text sets no term (term "none"); such an obligation is never breached.
    due_at: datetime | None = Field(default=None, sa_type=AWARE, index=True)  # type: ignore[call-overload]
    warn_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    warned: bool = False
    warned_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    status: str = Field(default="open", max_length=20, index=True)
    breached_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    # When the poller fired the breach: fired_at - due_at is the timer's lateness.
    fired_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_by_agency_id: str | None = Field(default=None, max_length=80)
    met_by_platform: bool = False
    on_time: bool | None = None
    cancelled_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    cancel_reason: str | None = Field(default=None, max_length=200)
    # The producer's obligation id: equal to obligation_id except for the 2nd, 3rd, ...
    # occurrence of a recurring duty, which all answer to the producer's one id.
    series_id: str = Field(index=True, max_length=36)
    occurrence: int = 0
    # 0 for a duty a service opened; n for the n-th escalation of a breach.
    escalation_level: int = 0
    escalates_obligation_id: str | None = Field(default=None, index=True, max_length=36)
    # An escalation's own step on the ladder: the clause that sends the breach to this body.
    escalation_basis: str | None = Field(default=None, max_length=200)
    root_obligation_id: str | None = Field(default=None, max_length=36)
    opened_by: str = Field(max_length=40)
    opened_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # The envelope of the opening, so that events about this obligation follow it.
    correlation_id: str | None = Field(default=None, max_length=36)
    opened_event_id: str | None = Field(default=None, max_length=64)
    # The W3C trace context of the opening, so a later breach links back to it.
    trace_context: str = Field(default="{}", max_length=400)


class TimelineEntry(SQLModel, table=True):
    """One event of a case, as the accountability view shows it (ids and codes only)."""

    __tablename__ = "deadlines_case_timeline"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "event", name="uq_deadlines_case_timeline_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=36)
    event_id: str = Field(max_length=64)
    # "<service>.<event name>", e.g. "routing.referral_issued".
    event: str = Field(max_length=120)
    occurred_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    agency_id: str | None = Field(default=None, max_length=80)
    agency_type: str | None = Field(default=None, max_length=40)
    target_agency_id: str | None = Field(default=None, max_length=80)
    target_agency_type: str | None = Field(default=None, max_length=40)
    obligation_id: str | None = Field(default=None, max_length=36)
    code: str | None = Field(default=None, max_length=10)
    # When the act was done, where the event says (met_at): judged against the due time.
    acted_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    on_time: bool | None = None
    # The clause of the step, where the entry is one (an escalation: the ladder's step).
    legal_basis: str | None = Field(default=None, max_length=200)


class CalendarOverride(SQLModel, table=True):
    """A government day transfer: an extra day off or a working Saturday."""

    __tablename__ = "deadlines_calendar_overrides"

    day: date = Field(primary_key=True)
    kind: str = Field(max_length=20)
    source: str = Field(max_length=20)
    added_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]


class CalendarState(SQLModel, table=True):
    """The calendar's version: every instance rebuilds its calendar when it changes."""

    __tablename__ = "deadlines_calendar_state"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    changed_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class PollerState(SQLModel, table=True):
    """The poller's row: on SQLite, writing it first makes a poll one serialised transaction."""

    __tablename__ = "deadlines_poller"

    name: str = Field(primary_key=True, max_length=40)
    ticked_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class PendingSettlement(PendingSettlementColumns, table=True):
    """A fulfilment or cancellation that arrived before its obligation opened, kept until then."""

    __tablename__ = "deadlines_pending_settlements"
