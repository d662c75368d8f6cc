"""A midnight wave: thousands of obligations due in the same instant, fired by the Poller.

On real databases (SQLite and PostgreSQL), with FixedClocks the tests move: the poller prepares
the breaches ahead of their due time, writes nothing before it, and at it fires each once.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from services.deadlines.handlers import (
    DeadlinesDeps,
    FireReport,
    Poller,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from services.deadlines.tables import Obligation
from shared.db import unit_of_work
from shared.outbox import OutboxRow
from tests.integration.test_deadlines_lifecycle import (
    BREACHED,
    ESCALATED,
    SCHEDULED,
    T0,
    clock,
    fulfilled,
    make_deps,
    opened,
    row,
)

OBLIGATIONS: sa.Table = Obligation.__table__  # type: ignore[attr-defined]
OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
DUE = T0 + timedelta(hours=1)
WAVE = 3_000


def load_wave(engine: Engine, n: int, *, due: datetime) -> list[str]:
    """Insert n open obligations all due at `due` (as routing's openings leave them); their ids."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    rows = [
        {
            "obligation_id": oid,
            "case_id": str(uuid.uuid4()),
            "code": "R12",
            "legal_basis": "Rules 38874, p.12.6",
            "actor_agency_type": "police",
            "actor_agency_id": "kz-75-police",
            "region": "KZ-75",
            "term": "hours:1",
            "started_at": T0,
            "due_at": due,
            "warn_at": due - timedelta(minutes=30),
            "warned": True,
            "status": "open",
            "series_id": oid,
            "opened_by": "routing",
            "opened_at": T0,
            "correlation_id": str(uuid.uuid4()),
            "trace_context": "{}",
        }
        for oid in ids
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(OBLIGATIONS), rows)
    return ids


def outbox_count(engine: Engine, subject: str) -> int:
    with unit_of_work(engine) as session:
        return int(
            session.execute(
                sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.subject == subject)
            ).scalar_one()
        )


def breached_ids(engine: Engine) -> Counter[str]:
    """How many obligation_breached events each obligation has in the outbox."""
    with unit_of_work(engine) as session:
        payloads = session.execute(
            sa.select(OUTBOX.c.payload).where(OUTBOX.c.subject == BREACHED)
        ).scalars()
        return Counter(str(json.loads(p)["obligation_id"]) for p in payloads)


def drain(poller: Poller, *, steps: int = 1_000) -> FireReport:
    """Step the poller until it has nothing to do at once (the clock does not move)."""
    total = FireReport()
    for _ in range(steps):
        report, wait = poller.step()
        total.merge(report)
        if wait > 0 and not report.count:
            return total
    raise AssertionError("the poller kept finding work")


def test_a_wave_is_prepared_ahead_and_fired_once_at_its_due_time(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    met = opened(term="hours:1")
    on_obligation_opened(met, deps=deps)
    ids = load_wave(engine, WAVE - 1, due=DUE)
    moved = ids.pop()
    reassigned = ids[0]
    poller = Poller(deps, interval=0.5, ahead=timedelta(seconds=30))

    # Twenty seconds before: every breach is prepared, nothing is written.
    clock(deps).set(DUE - timedelta(seconds=20))
    scheduled_before = outbox_count(engine, SCHEDULED)
    # (The met one, opened by the service, is warned it is due soon: a warning, not a breach.)
    assert drain(poller).breached == 0
    assert len(poller.prepared) == WAVE
    assert outbox_count(engine, BREACHED) == 0

    # Meanwhile one is met and one is moved (as a calendar re-count would): neither is breached.
    clock(deps).set(DUE - timedelta(seconds=1))
    on_obligation_fulfilled(fulfilled(met, met_at=clock(deps).now()), deps=deps)
    with engine.begin() as connection:
        connection.execute(
            sa.update(OBLIGATIONS)
            .where(OBLIGATIONS.c.obligation_id == moved)
            .values(due_at=DUE + timedelta(days=1))
        )
        # And one is handed to another police unit: its breach is computed again, not as prepared.
        connection.execute(
            sa.update(OBLIGATIONS)
            .where(OBLIGATIONS.c.obligation_id == reassigned)
            .values(actor_agency_id="kz-75-police-2")
        )

    # A microsecond before the due time: still nothing written.
    clock(deps).set(DUE - timedelta(microseconds=1))
    assert drain(poller).count == 0
    assert outbox_count(engine, BREACHED) == 0
    assert outbox_count(engine, ESCALATED) == 0

    clock(deps).set(DUE)
    report = drain(poller)
    assert report.breached == WAVE - 2
    assert report.escalated == WAVE - 2
    assert sorted(f.obligation_id for f in report.fired) == sorted(ids)
    assert all(f.committed_at >= f.due_at for f in report.fired)
    counts = breached_ids(engine)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert outbox_count(engine, ESCALATED) == WAVE - 2
    # One obligation_scheduled per escalation, besides those of the openings.
    assert outbox_count(engine, SCHEDULED) == scheduled_before + WAVE - 2
    with unit_of_work(engine) as session:
        by_status = dict(
            session.execute(
                sa.select(OBLIGATIONS.c.status, sa.func.count())
                .where(OBLIGATIONS.c.escalation_level == 0)
                .group_by(OBLIGATIONS.c.status)
            ).all()
        )
        escalations = session.execute(
            sa.select(OBLIGATIONS.c.escalates_obligation_id).where(
                OBLIGATIONS.c.escalation_level == 1
            )
        ).scalars()
        assert sorted(escalations) == sorted(ids)
        fired_at = set(
            session.execute(
                sa.select(OBLIGATIONS.c.fired_at).where(OBLIGATIONS.c.status == "breached")
            ).scalars()
        )
    assert by_status == {"breached": WAVE - 2, "met": 1, "open": 1}
    assert fired_at == {DUE}
    assert row(engine, met.obligation_id)["status"] == "met"
    with unit_of_work(engine) as session:
        actors = {
            json.loads(p)["obligation_id"]: json.loads(p)["actor_agency_id"]
            for p in session.execute(
                sa.select(OUTBOX.c.payload).where(OUTBOX.c.subject == BREACHED)
            ).scalars()
        }
    assert actors[reassigned] == "kz-75-police-2"
    assert actors[ids[1]] == "kz-75-police"
    assert row(engine, moved)["status"] == "open"
    assert not poller.prepared
    # Nothing fires twice.
    clock(deps).advance(timedelta(minutes=5))
    assert drain(poller).breached == 0
    assert outbox_count(engine, BREACHED) == WAVE - 2


def test_a_prepared_breach_matches_one_computed_at_the_due_time(
    migrated_engine: Callable[[str], Engine],
) -> None:
    # The same obligation fired cold and fired prepared: the same rows and events.
    results: list[dict[str, Any]] = []
    engine = migrated_engine("deadlines")
    for prepare in (False, True):
        deps = make_deps(engine)
        event = opened(term="hours:1")
        on_obligation_opened(event, deps=deps)
        poller = Poller(deps, interval=0.5, ahead=timedelta(seconds=30 if prepare else 0))
        clock(deps).set(DUE - timedelta(seconds=10))
        drain(poller)
        assert len(poller.prepared) == (1 if prepare else 0)
        with unit_of_work(engine) as session:
            last = session.execute(sa.select(sa.func.max(OUTBOX.c.id))).scalar_one()
        clock(deps).set(DUE)
        assert drain(poller).breached == 1
        with unit_of_work(engine) as session:
            escalation = session.execute(
                sa.select(OBLIGATIONS).where(
                    OBLIGATIONS.c.escalates_obligation_id == str(event.obligation_id)
                )
            ).one()
            events = session.execute(
                sa.select(OUTBOX.c.subject, OUTBOX.c.payload)
                .where(OUTBOX.c.id > last)
                .order_by(OUTBOX.c.id)
            ).all()
        results.append(
            {
                "escalation": {
                    k: v
                    for k, v in escalation._mapping.items()
                    if k
                    not in {
                        "obligation_id",
                        "series_id",
                        "case_id",
                        "escalates_obligation_id",
                        "root_obligation_id",
                        "correlation_id",
                        "opened_event_id",
                        "trace_context",
                    }
                },
                "subjects": [subject for subject, _ in events],
            }
        )
    assert results[0] == results[1]


def test_two_pollers_prepare_the_same_wave_and_fire_each_breach_once(
    db_url: str, migrated_engine: Callable[[str], Engine]
) -> None:
    first = migrated_engine("deadlines")
    # A second instance: its own engine (connection pool) on the same database.
    second = migrated_engine("deadlines")
    a, b = make_deps(first, batch=200), make_deps(second, batch=200)
    ids = load_wave(first, WAVE, due=DUE)
    pollers = [Poller(d, interval=0.5, ahead=timedelta(seconds=30)) for d in (a, b)]
    for deps, poller in zip((a, b), pollers, strict=True):
        clock(deps).set(DUE - timedelta(seconds=5))
        drain(poller)
        assert len(poller.prepared) == WAVE
    reports: list[FireReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(deps: DeadlinesDeps, poller: Poller) -> None:
        clock(deps).set(DUE)
        start.wait()
        try:
            reports.append(drain(poller))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=pair) for pair in zip((a, b), pollers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert sum(r.breached for r in reports) == WAVE
    counts = breached_ids(first)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert outbox_count(first, ESCALATED) == WAVE
    with unit_of_work(first) as session:
        escalations = session.execute(
            sa.select(sa.func.count())
            .select_from(OBLIGATIONS)
            .where(OBLIGATIONS.c.escalation_level == 1)
        ).scalar_one()
    assert escalations == WAVE
    if db_url.startswith("postgresql"):
        # SKIP LOCKED shares the wave rather than serialising it.
        assert all(r.breached for r in reports)
