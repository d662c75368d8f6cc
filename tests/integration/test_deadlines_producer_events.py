"""Deadlines reads each producer's events once: the timeline entry and the obligation's change
together, each part claimed under the inbox entry its own consumer used to claim."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import select

from services.deadlines.handlers import OPENED_INBOX, TIMELINE_INBOX, DeadlinesDeps
from services.deadlines.handlers.producer import apply_producer_event, read_producer_event
from services.deadlines.tables import Obligation
from shared.db import unit_of_work
from shared.inbox import claim
from tests.integration.test_deadlines_lifecycle import (
    T0,
    fulfilled,
    make_deps,
    opened,
    row,
    timeline_names,
)


def _apply(engine: Engine, subject: str, data: bytes, deps: DeadlinesDeps) -> None:
    with unit_of_work(engine) as session:
        event = read_producer_event(subject, data, now=T0)
        assert event is not None
        apply_producer_event(session, event, deps=deps)
        session.commit()


def test_an_opening_is_scheduled_and_on_the_timeline_once_however_often_it_comes(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(case_id=uuid.uuid4())
    data = event.model_dump_json().encode()

    for _ in range(2):
        _apply(engine, "qorgau.routing.obligation_opened.v1", data, deps)

    assert row(engine, event.obligation_id)["status"] == "open"
    names = timeline_names(engine, event.case_id)
    assert names.count("routing.obligation_opened") == 1
    assert names.count("deadlines.obligation_scheduled") == 1


def test_what_the_retired_consumers_applied_is_not_applied_again(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    case_id = uuid.uuid4()
    on_timeline_only = opened(case_id=case_id)
    both = opened(case_id=case_id)
    with unit_of_work(engine) as session:
        # Before the upgrade the timeline consumer had read both openings, the opened consumer
        # only the second (and scheduled it).
        for event in (on_timeline_only, both):
            assert claim(session, consumer=TIMELINE_INBOX, event_id=str(event.event_id), now=T0)
        assert claim(session, consumer=OPENED_INBOX, event_id=str(both.event_id), now=T0)
        session.commit()

    for event in (on_timeline_only, both):
        _apply(
            engine, "qorgau.routing.obligation_opened.v1", event.model_dump_json().encode(), deps
        )

    with unit_of_work(engine) as session:
        scheduled = [o.obligation_id for o in session.exec(select(Obligation))]
    # The one the opened consumer had not read is scheduled now; nothing is on the timeline
    # twice (the timeline had both).
    assert scheduled == [str(on_timeline_only.obligation_id)]
    assert "routing.obligation_opened" not in timeline_names(engine, case_id)


def test_other_events_go_on_the_timeline_and_events_of_no_case_are_ignored(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine)
    event = opened(case_id=uuid.uuid4())
    payload = event.model_dump(mode="json")
    _apply(engine, "qorgau.routing.referral_issued.v1", event.model_dump_json().encode(), deps)
    assert timeline_names(engine, event.case_id) == ["routing.referral_issued"]
    with unit_of_work(engine) as session:
        assert session.exec(select(Obligation)).first() is None

    payload["case_id"] = None

    assert (
        read_producer_event(
            "qorgau.routing.agency_changed.v1", json.dumps(payload).encode(), now=T0
        )
        is None
    )


def test_a_fulfilment_before_its_opening_in_the_same_stream_is_kept_then_applied(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("deadlines")
    deps = make_deps(engine, at=T0 + timedelta(minutes=30))
    event = opened(case_id=uuid.uuid4())
    met = fulfilled(event, met_at=T0 + timedelta(minutes=20))
    _apply(engine, "qorgau.routing.obligation_fulfilled.v1", met.model_dump_json().encode(), deps)
    _apply(engine, "qorgau.routing.obligation_opened.v1", event.model_dump_json().encode(), deps)

    assert row(engine, event.obligation_id)["status"] == "met"
    assert row(engine, event.obligation_id)["on_time"] is True
    names = timeline_names(engine, event.case_id)
    assert names.count("routing.obligation_fulfilled") == 1
    assert names.count("deadlines.obligation_met") == 1
