"""Routing's obligations and directory as a service keeps them: the columns, the handlers and
the subscriptions of the read model casework and the family centre each hold.

Each service keeps its own tables (in its own database, under its own names) built from the
columns here, and says what differs in an `ObligationsView`: which openings it keeps, whether
a fulfilment before its opening waits for it, its inbox names. Durable consumers are named
`<service>-<purpose>` by shared.bus and inbox consumers as the view says: both are stored
positions (JetStream, the inbox table). An inbox name is never renamed; a durable consumer
only with the old one retired (shared.streams.RETIRED_CONSUMERS) and its replacement claiming
the same inbox entries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from faststream.nats import NatsBroker
from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from shared import settlements
from shared.bus import BatchHandler, batch_subscriber, durable_subscriber
from shared.clock import Clock
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import AgencyChanged, AgencyRegistered
from shared.db import AwareDateTime, is_postgres, key_exists, unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.settlements import PendingSettlementColumns

AWARE = AwareDateTime()
log = logging.getLogger(__name__)

OPEN = "open"
MET = "met"
CANCELLED = "cancelled"
# The widest name a directory replica keeps (its columns' width).
NAME_LENGTH = 300

DirectoryEvent = AgencyRegistered | AgencyChanged
# Where a session notes the obligations its transaction added (not yet flushed).
_OPENED_HERE = "qorgau.obligationsview.opened"


class ObligationColumns(SQLModel):
    """The columns every service's copy of an obligation has; its table class adds its own."""

    obligation_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    correlation_id: str = Field(max_length=36)
    # The service that opened it: routing, or the service itself (its plan lines).
    producer: str = Field(max_length=20)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=200)
    actor_agency_type: str = Field(max_length=40)
    actor_agency_id: str | None = Field(default=None, index=True, max_length=80)
    target_agency_type: str | None = Field(default=None, max_length=40)
    region: str | None = Field(default=None, max_length=10)
    term: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # open | met | cancelled
    status: str = Field(default=OPEN, max_length=20)
    met_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_by_agency_id: str | None = Field(default=None, max_length=80)
    cancel_reason: str | None = Field(default=None, max_length=200)


class DirectoryColumns(SQLModel):
    """The columns of an agency of routing's directory, as its events describe it."""

    agency_id: str = Field(primary_key=True, max_length=80)
    agency_type: str = Field(max_length=40)
    region: str | None = Field(default=None, max_length=10)
    active: bool = True
    # The names printed plans give the responsible organisations (Appendix 2).
    name_kk: str = Field(default="", max_length=NAME_LENGTH)
    name_ru: str = Field(default="", max_length=NAME_LENGTH)


class Deps(Protocol):
    """What the read model needs of a service's handler dependencies."""

    @property
    def engine(self) -> Engine:
        """The service's database."""
        ...

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        ...


def _keep_all(event: ObligationOpened) -> bool:
    return True


@dataclass(frozen=True)
class ObligationsView:
    """One service's read model of routing's obligations and directory."""

    # The service's name: its durable consumer is `<service>-routing-obligations` and its
    # inbox consumers `<service>-obligation_opened`, ...
    service: str
    obligations: type[ObligationColumns]
    directory: type[DirectoryColumns]
    # The inbox consumer of a directory entry; `{name}` is the event's name.
    directory_inbox: str
    # Which openings the service keeps; others are not even claimed.
    keeps: Callable[[ObligationOpened], bool] = _keep_all
    # Where a fulfilment or withdrawal that comes before its opening (routing's instances
    # publish concurrently) is kept, on its first delivery, until the opening applies it
    # (shared.settlements); None: an unknown one is passed over.
    pending: type[PendingSettlementColumns] | None = None
    # Which codes' settlements concern the service (an early one is kept for its opening);
    # others are not its own obligations (it keeps only some openings) and are passed over,
    # not even claimed.
    awaits: Callable[[str], bool] = lambda _code: True

    def opened(self, event: ObligationOpened, *, deps: Deps) -> None:
        """Know an obligation routing opened: its case, row, clause, actor, start and term."""
        if not self.wants(event):
            return
        with unit_of_work(deps.engine) as session:
            if not self._claimed(session, "obligation_opened", str(event.event_id), deps):
                return
            self.apply_opened(session, event, deps=deps)
            session.commit()

    def fulfilled(self, event: ObligationFulfilled, *, deps: Deps) -> None:
        """Record that routing met an obligation (a platform transfer, a referral made)."""
        if not self.awaits(event.code):
            return
        with unit_of_work(deps.engine) as session:
            if not self._claimed(session, "obligation_fulfilled", str(event.event_id), deps):
                return
            self.apply_fulfilled(session, event, deps=deps)
            session.commit()

    def cancelled(self, event: ObligationCancelled, *, deps: Deps) -> None:
        """Record that routing withdrew an obligation (a decline took it elsewhere)."""
        if not self.awaits(event.code):
            return
        with unit_of_work(deps.engine) as session:
            if not self._claimed(session, "obligation_cancelled", str(event.event_id), deps):
                return
            self.apply_cancelled(session, event, deps=deps)
            session.commit()

    def wants(self, event: ObligationOpened) -> bool:
        """Tell whether the service keeps an opening (one it does not keep is not even claimed)."""
        if not self.keeps(event):
            return False
        if event.case_id is None:
            raise ValueError(f"obligation {event.obligation_id} names no case")
        return True

    def apply_opened(self, session: Session, event: ObligationOpened, *, deps: Deps) -> None:
        """Add a wanted, claimed opening's row on the caller's session (no commit)."""
        # Without flushing the batch's earlier rows first: one flush per batch; the openings
        # this transaction added are known from the session instead.
        opened_here = _opened_here(session)
        if str(event.obligation_id) in opened_here:
            return
        if self.pending is not None:
            settlements.hold(session, obligation_id=str(event.obligation_id))
        if key_exists(session, self.obligations, str(event.obligation_id)):
            return
        values: dict[str, Any] = {
            "obligation_id": str(event.obligation_id),
            "case_id": str(event.case_id),
            "correlation_id": str(event.correlation_id),
            "producer": event.producer or "routing",
            "code": event.code,
            "legal_basis": event.legal_basis,
            "actor_agency_type": event.actor_agency_type,
            "actor_agency_id": event.actor_agency_id,
            "target_agency_type": event.target_agency_type,
            "target_agency_id": event.target_agency_id,
            "region": event.region,
            "term": event.term,
            "started_at": event.started_at,
        }
        row = self.obligations(**self._kept(values))
        session.add(row)
        opened_here[row.obligation_id] = row
        if self.pending is None:
            return
        # What came before the opening is applied now, as if it had come after it.
        now = deps.clock.now()
        for early in settlements.take(
            session, self.pending, obligation_id=row.obligation_id, now=now
        ):
            if row.status != OPEN:
                continue  # settled by the earlier one: a later settlement changes nothing
            if isinstance(early, ObligationFulfilled):
                self._met(row, early)
            else:
                self._withdrawn(row, early)

    def apply_fulfilled(self, session: Session, event: ObligationFulfilled, *, deps: Deps) -> None:
        """Mark a claimed fulfilment's obligation met on the caller's session (no commit)."""
        row = self._open_row(session, event, deps)
        if row is not None:
            self._met(row, event)
            session.add(row)

    def apply_cancelled(self, session: Session, event: ObligationCancelled, *, deps: Deps) -> None:
        """Mark a claimed withdrawal's obligation cancelled on the caller's session (no commit)."""
        row = self._open_row(session, event, deps)
        if row is not None:
            self._withdrawn(row, event)
            session.add(row)

    def _met(self, row: ObligationColumns, event: ObligationFulfilled) -> None:
        values: dict[str, Any] = {
            "status": MET,
            "met_at": event.met_at,
            "met_by_agency_id": event.met_by_agency_id,
            "met_by_platform": event.met_by_platform,
        }
        for name, value in self._kept(values).items():
            setattr(row, name, value)

    def _withdrawn(self, row: ObligationColumns, event: ObligationCancelled) -> None:
        row.status = CANCELLED
        row.cancel_reason = event.reason[:200]

    def directory_entry(self, event: DirectoryEvent, *, deps: Deps) -> None:
        """Keep the directory replica as routing's directory says."""
        with unit_of_work(deps.engine) as session:
            consumer = self.directory_inbox.format(name=event.NAME)
            if not claim(
                session, consumer=consumer, event_id=str(event.event_id), now=deps.clock.now()
            ):
                return
            agency_id = event.directory_agency_id
            row = session.get(self.directory, agency_id) or self.directory(
                agency_id=agency_id, agency_type=event.agency_type
            )
            row.agency_type = event.agency_type
            row.region = event.region
            row.active = event.active
            row.name_kk = event.name_kk[:NAME_LENGTH]
            row.name_ru = event.name_ru[:NAME_LENGTH]
            session.add(row)
            session.commit()

    def seed_directory(self, *, deps: Deps, path: Path) -> int:
        """Load the shipped directory into an empty replica; return how many agencies were added."""
        with unit_of_work(deps.engine) as session:
            if session.exec(select(func.count()).select_from(self.directory)).one():
                return 0
            agencies = json.loads(path.read_text(encoding="utf-8"))["agencies"]
            for entry in agencies:
                session.add(
                    self.directory(
                        agency_id=entry["agency_id"],
                        agency_type=entry["agency_type"],
                        region=entry.get("region"),
                        active=entry.get("active", True),
                        name_kk=entry.get("name_kk", ""),
                        name_ru=entry.get("name_ru", ""),
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                # A twin instance starting at the same moment seeded it first: theirs stands.
                return 0
            return len(agencies)

    def _claimed(self, session: Session, name: str, event_id: str, deps: Deps) -> bool:
        consumer = f"{self.service}-{name}"
        return claim(session, consumer=consumer, event_id=event_id, now=deps.clock.now())

    def _kept(self, values: dict[str, Any]) -> dict[str, Any]:
        # Only what the service's table has a column for (each keeps a few of its own).
        columns = self.obligations.model_fields
        return {name: value for name, value in values.items() if name in columns}

    def _open_row(
        self, session: Session, event: ObligationFulfilled | ObligationCancelled, deps: Deps
    ) -> ObligationColumns | None:
        """Return the obligation still open, locked (PostgreSQL); None if closed, not kept, or
        not opened yet (then the settlement is kept until it opens, in a view that keeps them)."""
        pending = self.pending
        if pending is not None:
            settlements.hold(session, obligation_id=str(event.obligation_id))
        row = _opened_here(session).get(str(event.obligation_id))
        if row is None:
            query = select(self.obligations).where(
                self.obligations.obligation_id == str(event.obligation_id)
            )
            if is_postgres(deps.engine):
                # Two instances may settle the same obligation at once: one settles the row.
                query = query.with_for_update()
            # Without flushing the batch's openings: those are found above, not in the table.
            with session.no_autoflush:
                row = session.exec(query).first()
        if row is None:
            if pending is not None and settlements.keep(
                session, pending, event, now=deps.clock.now()
            ):
                log.info(
                    "kept %s of obligation %s until it opens: view=%s",
                    event.NAME,
                    event.obligation_id,
                    self.service,
                )
            return None
        return row if row.status == OPEN else None


def _opened_here(session: Session) -> dict[str, ObligationColumns]:
    """Return the obligations this session's transaction opened (not flushed yet), by id."""
    key = (_OPENED_HERE, session.get_transaction())
    found: dict[str, ObligationColumns] = session.info.setdefault(key, {})
    return found


def stage_met(
    session: Session,
    row: ObligationColumns,
    *,
    service: str,
    met_at: datetime,
    by_agency_id: str,
    fields: dict[str, Any],
    now: datetime,
) -> None:
    """Mark an obligation the service keeps met and stage ObligationFulfilled under its subject."""
    row.status = MET
    row.met_at = met_at
    row.met_by_agency_id = by_agency_id
    session.add(row)
    stage(
        session,
        ObligationFulfilled(
            **fields,
            obligation_id=uuid.UUID(row.obligation_id),
            code=row.code,
            met_at=met_at,
            met_by_agency_id=by_agency_id,
            met_by_platform=False,
        ),
        now=now,
        subject=ObligationFulfilled.subject(service),
    )


def stage_cancelled(
    session: Session,
    row: ObligationColumns,
    *,
    service: str,
    reason: str,
    fields: dict[str, Any],
    now: datetime,
) -> None:
    """Mark an obligation the service keeps cancelled and stage ObligationCancelled."""
    row.status = CANCELLED
    row.cancel_reason = reason[:200]
    session.add(row)
    stage(
        session,
        ObligationCancelled(
            **fields, obligation_id=uuid.UUID(row.obligation_id), code=row.code, reason=reason
        ),
        now=now,
        subject=ObligationCancelled.subject(service),
    )


# Messages per transaction: each report brings ~27 openings and ~14 fulfilments, each a single
# fsync when handled alone; a batch shares one commit among them.
BATCH_SIZE = 100


def batches_in_flight(deps: Deps | None) -> int:
    """Batches each consumer handles at once: two on PostgreSQL, one on SQLite (one writer)."""
    # The CLI registers the subscribers without dependencies, only to list the consumers.
    return 2 if deps is not None and is_postgres(deps.engine) else 1


@dataclass(frozen=True)
class _Settled:
    """One of routing's obligation events, as the view applies it: its inbox name and event."""

    inbox: str
    event: ObligationOpened | ObligationFulfilled | ObligationCancelled


def subscribe_obligations(broker: NatsBroker, view: ObligationsView, deps: Deps) -> None:
    """Bind routing's obligation events to the view (durable `<service>-routing-obligations`).

    One consumer reads everything routing publishes and keeps the three obligation events, so
    an opening comes before its fulfilment as routing published them; it takes its messages in
    batches, one transaction per batch. A fulfilment or withdrawal before its opening (routing's
    two instances race) is kept on its first delivery and applied in the opening's transaction.
    """
    batch_subscriber(
        broker,
        "qorgau.routing.>",
        service=view.service,
        purpose="routing-obligations",
        # Read when a batch arrives: the CLI registers without dependencies.
        engine=lambda: deps.engine,
        handle=_routing_obligations(view, deps),
        batch_size=BATCH_SIZE,
        in_flight=batches_in_flight(deps),
    )


def _routing_obligations(view: ObligationsView, deps: Deps) -> BatchHandler[_Settled]:
    kinds: dict[str, tuple[str, type[ObligationOpened | ObligationFulfilled | ObligationCancelled]]]
    kinds = {
        model.subject("routing"): (f"{view.service}-{model.NAME}", model)
        for model in (ObligationOpened, ObligationFulfilled, ObligationCancelled)
    }

    def decode(subject: str, data: bytes) -> _Settled | None:
        kind = kinds.get(subject)
        if kind is None:
            return None  # routing's other events: not the view's (no inbox entry either)
        inbox, model = kind
        event = model.model_validate_json(data)
        if isinstance(event, ObligationOpened):
            if not view.wants(event):
                return None  # an opening the service does not keep is not even claimed
        elif not view.awaits(event.code):
            return None  # nor a settlement of a row it never keeps
        return _Settled(inbox, event)

    def apply(session: Session, settled: _Settled) -> None:
        event = settled.event
        if not claim(
            session, consumer=settled.inbox, event_id=str(event.event_id), now=deps.clock.now()
        ):
            return
        if isinstance(event, ObligationOpened):
            view.apply_opened(session, event, deps=deps)
        elif isinstance(event, ObligationFulfilled):
            view.apply_fulfilled(session, event, deps=deps)
        else:
            view.apply_cancelled(session, event, deps=deps)

    return BatchHandler(
        # Each event claims the inbox entry its own consumer claimed before (never renamed).
        inbox=None,
        decode=decode,
        event_id=lambda settled: str(settled.event.event_id),
        apply=apply,
        now=lambda: deps.clock.now(),
        payload=ObligationOpened | ObligationFulfilled | ObligationCancelled,
        name="routing_obligation",
    )


def subscribe_directory(broker: NatsBroker, view: ObligationsView, deps: Deps) -> None:
    """Bind routing's directory subjects to the view (durables `<service>-agency-...`)."""

    @durable_subscriber(
        broker, AgencyRegistered.subject(), service=view.service, purpose="agency-registered"
    )
    async def registered(event: AgencyRegistered) -> None:
        await asyncio.to_thread(view.directory_entry, event, deps=deps)

    @durable_subscriber(
        broker, AgencyChanged.subject(), service=view.service, purpose="agency-changed"
    )
    async def changed(event: AgencyChanged) -> None:
        await asyncio.to_thread(view.directory_entry, event, deps=deps)
