"""Calendar overrides: added over HTTP or from a file, and open obligations re-counted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from services.deadlines.handlers import (
    DeadlinesDeps,
    apply_calendar_change,
    fire_due,
    load_overrides_file,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from shared.calendar import CalendarOverrides
from shared.clock import ALMATY
from tests.integration.deadlines_http import operator_client
from tests.integration.test_deadlines_lifecycle import (
    T0,
    clock,
    fulfilled,
    make_deps,
    opened,
    published,
    row,
)

RESCHEDULED = "qorgau.deadlines.obligation_rescheduled.v1"


@pytest.fixture
def deps(migrated_engine: Callable[[str], Engine]) -> DeadlinesDeps:
    return make_deps(migrated_engine("deadlines"))


@pytest.fixture
async def client(deps: DeadlinesDeps) -> AsyncIterator[httpx.AsyncClient]:
    async with operator_client(deps) as client:
        yield client


def local(moment: datetime | None) -> str | None:
    return moment.astimezone(ALMATY).isoformat() if moment is not None else None


async def test_a_day_transfer_recounts_open_obligations_only(
    deps: DeadlinesDeps, client: httpx.AsyncClient
) -> None:
    engine = deps.engine
    # Friday 20 November: three working days end on Wednesday 25 at 24:00.
    moving = opened(term="working_days:3", code="R12")
    met = opened(term="working_days:3", code="R13")
    hours = opened(term="hours:1", code="R7")
    untouched = opened(term="working_days:1", code="R8", started_at=T0 + timedelta(days=14))
    for event in (moving, met, hours, untouched):
        on_obligation_opened(event, deps=deps)
    on_obligation_fulfilled(fulfilled(met, met_at=T0 + timedelta(hours=2)), deps=deps)
    clock(deps).advance(timedelta(hours=3))

    # The government moves Monday 23 November off and works Saturday 28 instead.
    answer = await client.post(
        "/v1/calendar/overrides", json={"days_off": ["2026-11-23"], "working_days": ["2026-11-28"]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "version": 1,
        "changed_days": ["2026-11-23", "2026-11-28"],
        "rescheduled": 1,
    }
    assert local(row(engine, moving.obligation_id)["due_at"]) == "2026-11-27T00:00:00+05:00"
    assert local(row(engine, moving.obligation_id)["warn_at"]) == "2026-11-26T00:00:00+05:00"
    assert local(row(engine, met.obligation_id)["due_at"]) == "2026-11-26T00:00:00+05:00"
    assert row(engine, hours.obligation_id)["due_at"] == T0 + timedelta(hours=1)
    moved = published(engine, RESCHEDULED)
    assert [(m["obligation_id"], m["previous_due_at"], m["due_at"]) for m in moved] == [
        (str(moving.obligation_id), "2026-11-26T00:00:00+05:00", "2026-11-27T00:00:00+05:00")
    ]
    assert moved[0]["reason"] == "calendar_changed"

    # Posting the same days again changes nothing.
    again = await client.post("/v1/calendar/overrides", json={"days_off": ["2026-11-23"]})
    assert again.json() == {"version": 1, "changed_days": [], "rescheduled": 0}
    listed = (await client.get("/v1/calendar/overrides")).json()
    assert listed["version"] == 1
    assert listed["days_off"] == ["2026-11-23"]
    assert listed["working_days"] == ["2026-11-28"]
    assert listed["entries"][0] == {"day": "2026-11-23", "kind": "day_off", "source": "api"}

    # Removing the day off moves the term back.
    removed = await client.delete("/v1/calendar/overrides/2026-11-23")
    assert removed.status_code == 200
    assert removed.json()["rescheduled"] == 1
    assert local(row(engine, moving.obligation_id)["due_at"]) == "2026-11-26T00:00:00+05:00"
    assert (await client.delete("/v1/calendar/overrides/2026-11-23")).status_code == 404

    # The poller breaches at the re-counted time.
    clock(deps).set(datetime(2026, 11, 26, 0, 0, tzinfo=ALMATY))
    fire_due(deps=deps)
    assert row(engine, moving.obligation_id)["status"] == "breached"


def test_a_breached_obligation_is_not_recounted(deps: DeadlinesDeps) -> None:
    event = opened(term="working_days:1", code="R8")
    on_obligation_opened(event, deps=deps)
    clock(deps).set(datetime(2026, 11, 24, 0, 0, tzinfo=ALMATY))
    fire_due(deps=deps)
    change = apply_calendar_change(deps=deps, days_off=[date(2026, 11, 23)])
    # The breach stays where it fell; the escalation it opened counts from the day after the
    # 23rd, so the day off moves nothing.
    assert change.rescheduled == 0
    assert row(deps.engine, event.obligation_id)["status"] == "breached"
    assert local(row(deps.engine, event.obligation_id)["due_at"]) == "2026-11-24T00:00:00+05:00"


def test_a_term_that_moves_later_warns_again(deps: DeadlinesDeps) -> None:
    event = opened(term="working_days:3", code="R12")
    on_obligation_opened(event, deps=deps)
    clock(deps).set(datetime(2026, 11, 25, 9, 0, tzinfo=ALMATY))
    assert fire_due(deps=deps).warned == 1
    # Wednesday 25 is declared a day off: the last day is now Thursday 26.
    apply_calendar_change(deps=deps, days_off=[date(2026, 11, 25)])
    o = row(deps.engine, event.obligation_id)
    assert local(o["due_at"]) == "2026-11-27T00:00:00+05:00"
    assert o["warned"] is False
    clock(deps).set(datetime(2026, 11, 26, 0, 0, tzinfo=ALMATY))
    assert fire_due(deps=deps).warned == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"days_off": ["2026-11-31"]}, ["days_off.0"]),
        ({"days_off": ["2026-11-23", "23.11.2026"]}, ["days_off.1"]),
        ({"working_days": "2026-11-28"}, ["working_days"]),
        ({"working_days": [20261128]}, ["working_days.0"]),
        ({"days_off": ["2026-11-23"], "working_days": ["2026-11-23"]}, ["working_days"]),
        ({"holidays": ["2026-11-23"]}, ["holidays"]),
        ([], ["body"]),
    ],
    ids=["no-such-day", "wrong-format", "not-a-list", "not-a-string", "both", "unknown", "array"],
)
async def test_bad_overrides_are_refused_by_field_and_change_nothing(
    deps: DeadlinesDeps, client: httpx.AsyncClient, body: object, fields: list[str]
) -> None:
    answer = await client.post("/v1/calendar/overrides", json=body)
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["detail"]] == fields
    listed = (await client.get("/v1/calendar/overrides")).json()
    assert (listed["version"], listed["days_off"], listed["working_days"]) == (0, [], [])


async def test_not_json_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/calendar/overrides", content=b"{not json")
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["detail"]] == ["body"]
    assert (await client.delete("/v1/calendar/overrides/tomorrow")).status_code == 422


def test_the_overrides_file_is_loaded_once(deps: DeadlinesDeps, tmp_path: Path) -> None:
    event = opened(term="working_days:1", code="R8")
    on_obligation_opened(event, deps=deps)
    path = tmp_path / "transfers-2026.json"
    path.write_text(json.dumps({"days_off": ["2026-11-23"], "working_days": ["2026-11-21"]}))
    change = load_overrides_file(deps=deps, overrides=CalendarOverrides.from_file(path))
    assert change.changed_days == (date(2026, 11, 21), date(2026, 11, 23))
    assert change.rescheduled == 1
    # Saturday 21 works: one working day from Friday ends on Saturday.
    assert local(row(deps.engine, event.obligation_id)["due_at"]) == "2026-11-22T00:00:00+05:00"
    # A restart loads the same file again: nothing is new, nothing moves.
    again = load_overrides_file(deps=deps, overrides=CalendarOverrides.from_file(path))
    assert (again.changed_days, again.rescheduled, again.version) == ((), 0, change.version)


def test_another_instance_counts_with_the_new_calendar(deps: DeadlinesDeps) -> None:
    # A second instance on the same database, whose calendar was built before the change.
    other = make_deps(deps.engine)
    warm = opened(term="working_days:1")
    on_obligation_opened(warm, deps=other)
    apply_calendar_change(deps=deps, working_days=[date(2026, 11, 21)])
    later = opened(term="working_days:1")
    on_obligation_opened(later, deps=other)
    assert local(row(deps.engine, later.obligation_id)["due_at"]) == "2026-11-22T00:00:00+05:00"
    # The one opened before the change was re-counted by the change itself.
    assert local(row(deps.engine, warm.obligation_id)["due_at"]) == "2026-11-22T00:00:00+05:00"
