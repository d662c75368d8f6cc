"""The deadlines lifecycle and its timer on real databases (SQLite and PostgreSQL).

Handlers are called directly with a FixedClock: tests move time, they never sleep.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from services.deadlines import handlers, repository
from services.deadlines.domain import EscalationChain
from services.deadlines.handlers import (
    DeadlinesDeps,
    Policy,
    fire_due,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from services.deadlines.tables import Obligation, TimelineEntry
from shared.calendar import Term
from shared.clock import ALMATY, FixedClock
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.db import unit_of_work
from shared.outbox import OutboxRow

# Friday 20 November 2026, 10:00 in Almaty.
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=ALMATY)

BREACHED = "qorgau.deadlines.obligation_breached.v1"
ESCALATED = "qorgau.deadlines.obligation_escalated.v1"
DUE_SOON = "qorgau.deadlines.obligation_due_soon.v1"
MET = "qorgau.deadlines.obligation_met.v1"
SCHEDULED = "qorgau.deadlines.obligation_scheduled.v1"
CANCELLED = "qorgau.deadlines.obligation_cancelled.v1"


def make_deps(engine: Engine, at: datetime = T0, **policy: Any) -> DeadlinesDeps:
    """Deadlines' dependencies on a migrated engine, with a clock the test moves."""
    return DeadlinesDeps(engine=engine, clock=FixedClock(at), policy=Policy(**policy))


def clock(deps: DeadlinesDeps) -> FixedClock:
    assert isinstance(deps.clock, FixedClock)
    return deps.clock


def opened(
    *,
    term: str = "hours:1",
    code: str = "R7",
    actor: str = "child_rights_regional",
    actor_id: str | None = "kz-75-child-rights-regional",
    started_at: datetime = T0,
    case_id: uuid.UUID | None = None,
    region: str = "KZ-75",
    producer: str = "routing",
) -> ObligationOpened:
    """An ObligationOpened as routing publishes it."""
    return ObligationOpened(
        occurred_at=started_at,
        case_id=case_id or uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        producer=producer,
        obligation_id=uuid.uuid4(),
        code=code,
        legal_basis="Rules 38874, p.12.1",
        actor_agency_type=actor,
        actor_agency_id=actor_id,
        target_agency_type="child_rights_national",
        target_agency_id="kz-child-rights-national",
        term=term,
        started_at=started_at,
        region=region,
    )


def fulfilled(
    event: ObligationOpened, *, met_at: datetime, by: str | None = "kz-75-child-rights-regional"
) -> ObligationFulfilled:
    """The fulfilment of an opened obligation."""
    return ObligationFulfilled(
        occurred_at=met_at,
        **event.follow(),
        producer=event.producer,
        obligation_id=event.obligation_id,
        code=event.code,
        met_at=met_at,
        met_by_agency_id=by,
    )


def cancelled(event: ObligationOpened, *, reason: str, at: datetime) -> ObligationCancelled:
    """The cancellation of an opened obligation."""
    return ObligationCancelled(
        occurred_at=at,
        **event.follow(),
        producer=event.producer,
        obligation_id=event.obligation_id,
        code=event.code,
        reason=reason,
    )


def row(engine: Engine, obligation_id: uuid.UUID | str) -> dict[str, Any]:
    """An obligation's row as a dict."""
    with unit_of_work(engine) as session:
        o = session.get(Obligation, str(obligation_id))
        assert o is not None
        return o.model_dump()


def case_rows(engine: Engine, case_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every obligation of a case, by escalation level then id."""
    with unit_of_work(engine) as session:
        found = session.exec(
            select(Obligation)
            .where(Obligation.case_id == str(case_id))
            .order_by(col(Obligation.escalation_level), col(Obligation.obligation_id))
        )
        return [o.model_dump() for o in found]


def published(engine: Engine, subject: str) -> list[dict[str, Any]]:
    """Every event staged in the outbox on a subject, in order."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(OutboxRow).where(OutboxRow.subject == subject).order_by(col(OutboxRow.id))
        )
        return [json.loads(r.payload) for r in rows]


def timeline_names(engine: Engine, case_id: uuid.UUID) -> list[str]:
    with unit_of_work(engine) as session:
        entries = session.exec(
            select(TimelineEntry)
            .where(TimelineEntry.case_id == str(case_id))
            .order_by(col(TimelineEntry.occurred_at), col(TimelineEntry.id))
        )
        return [e.event for e in entries]


# --- breach, warning, met ------------------------------------------------------------------


def test_a_breach_fires_once_at_the_due_time(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="hours:1")
    on_obligation_opened(event, deps=deps)
    assert row(engine, event.obligation_id)["due_at"] == T0 + timedelta(hours=1)

    clock(deps).set(T0 + timedelta(minutes=59, seconds=59))
    assert fire_due(deps=deps).breached == 0
    clock(deps).set(T0 + timedelta(hours=1))
    report = fire_due(deps=deps)
    assert report.breached == 1
    assert [f.obligation_id for f in report.fired if f.kind == "breached"] == [
        str(event.obligation_id)
    ]
    clock(deps).advance(timedelta(hours=5))
    assert fire_due(deps=deps).breached == 0

    o = row(engine, event.obligation_id)
    assert o["status"] == "breached"
    assert o["breached_at"] == T0 + timedelta(hours=1)
    assert o["fired_at"] == T0 + timedelta(hours=1)
    breaches = published(engine, BREACHED)
    assert len(breaches) == 1
    breach = breaches[0]
    assert breach["obligation_id"] == str(event.obligation_id)
    assert breach["case_id"] == str(event.case_id)
    assert breach["correlation_id"] == str(event.correlation_id)
    assert breach["causation_id"] == str(event.event_id)
    assert breach["legal_basis"] == "Rules 38874, p.12.1"
    assert breach["region"] == "KZ-75"
    assert breach["escalated_to_agency_type"] == "child_rights_national"
    assert breach["escalation_chain_ended"] is False


def test_due_soon_warns_once_before_the_breach(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="working_days:3", code="R12")
    on_obligation_opened(event, deps=deps)
    # Due at 24:00 of Wednesday 25 November; warned from the start of that day.
    clock(deps).set(datetime(2026, 11, 24, 23, 59, tzinfo=ALMATY))
    assert fire_due(deps=deps).count == 0
    clock(deps).set(datetime(2026, 11, 25, 0, 0, tzinfo=ALMATY))
    assert fire_due(deps=deps).warned == 1
    clock(deps).advance(timedelta(hours=12))
    assert fire_due(deps=deps).count == 0
    warnings = published(engine, DUE_SOON)
    assert len(warnings) == 1
    assert warnings[0]["due_at"] == "2026-11-26T00:00:00+05:00"
    assert warnings[0]["actor_agency_id"] == "kz-75-child-rights-regional"
    assert row(engine, event.obligation_id)["warned"] is True
    clock(deps).set(datetime(2026, 11, 26, 0, 0, tzinfo=ALMATY))
    assert fire_due(deps=deps).breached == 1
    # Once for the obligation; its escalation (due at the end of Thursday, so due soon from
    # the start of it) warns for itself at the next poll.
    assert fire_due(deps=deps).warned == 1
    warned = Counter(w["obligation_id"] for w in published(engine, DUE_SOON))
    assert warned[str(event.obligation_id)] == 1
    assert sum(warned.values()) == 2


def test_met_on_time(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="hours:1")
    on_obligation_opened(event, deps=deps)
    clock(deps).advance(timedelta(minutes=40))
    on_obligation_fulfilled(fulfilled(event, met_at=clock(deps).now()), deps=deps)
    clock(deps).advance(timedelta(days=3))
    assert fire_due(deps=deps).count == 0
    o = row(engine, event.obligation_id)
    assert (o["status"], o["on_time"]) == ("met", True)
    assert o["met_by_agency_id"] == "kz-75-child-rights-regional"
    met = published(engine, MET)
    assert [(m["on_time"], m["was_breached"]) for m in met] == [(True, False)]
    assert published(engine, BREACHED) == []


def test_met_late_is_recorded_and_stops_the_escalation(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="hours:1")
    on_obligation_opened(event, deps=deps)
    clock(deps).advance(timedelta(hours=2))
    assert fire_due(deps=deps).escalated == 1
    met_at = clock(deps).now()
    on_obligation_fulfilled(fulfilled(event, met_at=met_at), deps=deps)

    rows = case_rows(engine, event.case_id)
    original, escalation = rows
    assert (original["status"], original["on_time"]) == ("met", False)
    assert original["met_at"] == met_at
    assert original["breached_at"] == T0 + timedelta(hours=1)
    assert escalation["escalation_level"] == 1
    assert escalation["status"] == "cancelled"
    assert escalation["cancel_reason"] == "escalated obligation R7 met"
    met = published(engine, MET)
    assert [(m["on_time"], m["was_breached"]) for m in met] == [(False, True)]
    withdrawn = published(engine, CANCELLED)
    assert [c["obligation_id"] for c in withdrawn] == [escalation["obligation_id"]]
    # A cancelled escalation never breaches.
    clock(deps).advance(timedelta(days=30))
    assert fire_due(deps=deps).count == 0


def test_replaying_every_event_changes_nothing(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened()
    done = fulfilled(event, met_at=T0 + timedelta(minutes=5))
    for _ in range(2):
        on_obligation_opened(event, deps=deps)
        on_obligation_fulfilled(done, deps=deps)
    assert len(case_rows(engine, event.case_id)) == 1
    assert len(published(engine, SCHEDULED)) == 1
    assert len(published(engine, MET)) == 1


def test_a_second_fulfilment_is_refused_and_recorded(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened()
    on_obligation_opened(event, deps=deps)
    on_obligation_fulfilled(fulfilled(event, met_at=T0), deps=deps)
    on_obligation_fulfilled(fulfilled(event, met_at=T0 + timedelta(minutes=1)), deps=deps)
    o = row(engine, event.obligation_id)
    assert (o["status"], o["met_at"]) == ("met", T0)
    assert len(published(engine, MET)) == 1
    assert timeline_names(engine, event.case_id).count("deadlines.transition_refused") == 1


# --- cancellation ---------------------------------------------------------------------------


def test_cancelled_with_a_reason(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="working_days:1", code="R8")
    on_obligation_opened(event, deps=deps)
    clock(deps).advance(timedelta(hours=1))
    on_obligation_cancelled(
        cancelled(event, reason="report joined case 7b75", at=clock(deps).now()), deps=deps
    )
    o = row(engine, event.obligation_id)
    assert (o["status"], o["cancel_reason"]) == ("cancelled", "report joined case 7b75")
    assert o["cancelled_at"] == T0 + timedelta(hours=1)
    assert [c["reason"] for c in published(engine, CANCELLED)] == ["report joined case 7b75"]
    clock(deps).advance(timedelta(days=10))
    assert fire_due(deps=deps).count == 0
    # Acting on a cancelled obligation is refused, and the refusal is on the timeline.
    on_obligation_fulfilled(fulfilled(event, met_at=clock(deps).now()), deps=deps)
    assert row(engine, event.obligation_id)["status"] == "cancelled"
    assert "deadlines.transition_refused" in timeline_names(engine, event.case_id)


def test_cancelling_after_a_breach_keeps_the_breach_and_withdraws_the_escalation(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="hours:1")
    on_obligation_opened(event, deps=deps)
    clock(deps).advance(timedelta(hours=2))
    fire_due(deps=deps)
    on_obligation_cancelled(cancelled(event, reason="joined", at=clock(deps).now()), deps=deps)
    original, escalation = case_rows(engine, event.case_id)
    assert original["status"] == "breached"
    assert escalation["status"] == "cancelled"
    assert escalation["cancel_reason"] == "escalated obligation R7 cancelled: joined"


# --- escalation -----------------------------------------------------------------------------


def test_a_breach_escalates_and_climbs_the_chain_to_its_top(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="hours:1")
    on_obligation_opened(event, deps=deps)

    clock(deps).set(T0 + timedelta(hours=1))
    assert fire_due(deps=deps).escalated == 1
    first = published(engine, ESCALATED)[0]
    assert first["obligation_id"] == str(event.obligation_id)
    assert first["level"] == 1
    assert first["supervisor_agency_type"] == "child_rights_national"
    assert first["region"] == "KZ-75"
    assert first["code"] == "R7"
    assert first["legal_basis"] == "Rules 38874, p.12.1"
    assert first["breached_actor_agency_id"] == "kz-75-child-rights-regional"
    # One working day from the breach (Friday 11:00): Monday 23 November, to 24:00.
    assert first["due_at"] == "2026-11-24T00:00:00+05:00"
    level1 = row(engine, first["escalation_obligation_id"])
    assert level1["actor_agency_type"] == "child_rights_national"
    assert level1["actor_agency_id"] is None
    assert level1["target_agency_type"] == "child_rights_regional"
    assert level1["status"] == "open"
    assert level1["escalates_obligation_id"] == str(event.obligation_id)

    clock(deps).set(datetime(2026, 11, 24, 0, 0, tzinfo=ALMATY))
    fire_due(deps=deps)
    second = published(engine, ESCALATED)[1]
    assert (second["level"], second["supervisor_agency_type"]) == (2, "prosecutor")
    assert second["obligation_id"] == first["escalation_obligation_id"]
    assert second["root_obligation_id"] == str(event.obligation_id)

    clock(deps).set(datetime(2026, 11, 25, 0, 0, tzinfo=ALMATY))
    report = fire_due(deps=deps)
    assert (report.breached, report.escalated, report.chains_ended) == (1, 0, 1)
    top = published(engine, BREACHED)[-1]
    assert top["actor_agency_type"] == "prosecutor"
    assert top["escalation_chain_ended"] is True
    assert top["escalated_to_agency_type"] is None
    # The chain ended: nothing more is open, nothing more fires.
    clock(deps).advance(timedelta(days=60))
    assert fire_due(deps=deps).count == 0
    levels = [(r["escalation_level"], r["status"]) for r in case_rows(engine, event.case_id)]
    assert levels == [(0, "breached"), (1, "breached"), (2, "breached")]


def test_the_chain_and_the_escalation_term_are_configurable(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    chain = EscalationChain(
        supervisors={"education_org": "education_authority", "education_authority": None},
        default=None,
    )
    deps = make_deps(engine, chain=chain, escalation_term=Term.hours(4))
    event = opened(term="immediate", code="R4", actor="education_org", actor_id="school-17")
    on_obligation_opened(event, deps=deps)
    clock(deps).set(T0 + timedelta(days=1))
    # Overdue for a day: the escalation (4 hours) is overdue too, and climbs in the same call.
    report = fire_due(deps=deps)
    assert (report.breached, report.escalated, report.chains_ended) == (2, 1, 1)
    escalated = published(engine, ESCALATED)
    assert [e["supervisor_agency_type"] for e in escalated] == ["education_authority"]
    assert escalated[0]["due_at"] == "2026-11-20T14:15:00+05:00"


def test_everything_that_fell_due_during_downtime_fires_at_once_exactly_once(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, batch=7)
    events = [
        opened(term=f"hours:{1 + i % 5}", actor="police", actor_id="kz-75-police")
        for i in range(40)
    ]
    for event in events:
        on_obligation_opened(event, deps=deps)
    # Down from Friday to Wednesday: every term ran out, and so did each escalation's working
    # day (Monday).
    clock(deps).set(T0 + timedelta(days=5))
    report = fire_due(deps=deps)
    assert report.breached == 80
    assert report.escalated == 40
    assert report.chains_ended == 40
    assert fire_due(deps=deps).count == 0
    counts = Counter(b["obligation_id"] for b in published(engine, BREACHED))
    assert len(counts) == 80
    assert set(counts.values()) == {1}


def test_a_crash_before_commit_fires_again_and_only_once(
    migrated_engine: Callable[[str], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, batch=5)
    events = [opened(term="hours:1") for _ in range(12)]
    for event in events:
        on_obligation_opened(event, deps=deps)
    clock(deps).set(T0 + timedelta(hours=1, minutes=1))
    real_stage = repository.stage_outbox
    batches = 0

    def crashing_stage(*args: Any, **kwargs: Any) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            # The process dies in the middle of the second batch, before its commit.
            raise RuntimeError("process killed")
        real_stage(*args, **kwargs)

    monkeypatch.setattr(repository, "stage_outbox", crashing_stage)
    with pytest.raises(RuntimeError):
        fire_due(deps=deps)
    assert len(published(engine, BREACHED)) == 5
    monkeypatch.setattr(repository, "stage_outbox", real_stage)
    fire_due(deps=deps)
    counts = Counter(b["obligation_id"] for b in published(engine, BREACHED))
    assert sorted(counts) == sorted(str(e.obligation_id) for e in events)
    assert set(counts.values()) == {1}


def test_an_obligation_without_a_term_is_listed_and_never_breached(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(term="none", code="R16", actor="police", actor_id="kz-75-police")
    on_obligation_opened(event, deps=deps)
    o = row(engine, event.obligation_id)
    assert (o["status"], o["due_at"], o["warn_at"]) == ("open", None, None)
    assert published(engine, SCHEDULED)[0]["due_at"] is None
    clock(deps).advance(timedelta(days=3650))
    assert fire_due(deps=deps).count == 0
    on_obligation_fulfilled(fulfilled(event, met_at=clock(deps).now()), deps=deps)
    o = row(engine, event.obligation_id)
    assert (o["status"], o["on_time"]) == ("met", True)


# --- several pollers ------------------------------------------------------------------------


def test_two_pollers_on_one_database_never_fire_an_obligation_twice(
    db_url: str, migrated_engine: Callable[[str], Engine]
) -> None:
    first = migrated_engine("deadlines")
    # A second instance: its own engine (connection pool) on the same database.
    second = migrated_engine("deadlines")
    a, b = make_deps(first, batch=25), make_deps(second, batch=25)
    events = [opened(term="hours:1", actor="police", actor_id="kz-75-police") for _ in range(300)]
    for event in events:
        on_obligation_opened(event, deps=a)
    at = T0 + timedelta(hours=1)
    reports: list[handlers.FireReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def poll(deps: DeadlinesDeps) -> None:
        start.wait()
        try:
            reports.append(fire_due(deps=deps, now=at))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=poll, args=(d,)) for d in (a, b, a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sum(r.breached for r in reports) == 300
    counts = Counter(b["obligation_id"] for b in published(first, BREACHED))
    assert len(counts) == 300
    assert set(counts.values()) == {1}
    assert len(published(first, ESCALATED)) == 300
    if db_url.startswith("postgresql"):
        # SKIP LOCKED shares the work rather than serialising it.
        assert sum(1 for r in reports if r.breached) >= 2
