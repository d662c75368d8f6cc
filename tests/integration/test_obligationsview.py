"""The shared read model of routing's obligations and directory, as casework and the family
centre each configure it, on real databases: the rows each keeps, repeats that add nothing, an
early fulfilment, and the stored names (inbox, durables) production has."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from qorgau.cli import service_consumers
from services.casework import handlers as casework
from services.casework.config import AGENCIES as CASEWORK_AGENCIES
from services.familycentre import handlers as familycentre
from services.familycentre.config import AGENCIES as CENTRE_AGENCIES
from shared.clock import FixedClock
from shared.contracts.obligations import ObligationCancelled, ObligationFulfilled, ObligationOpened
from shared.contracts.routing import AgencyChanged, AgencyRegistered
from shared.db import unit_of_work
from shared.inbox import InboxEntry
from shared.obligationsview import ObligationsView, stage_cancelled, stage_met
from shared.outbox import OutboxRow
from shared.settlements import OVERDUE_AFTER, Watch

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
CENTRE = "kz-75-family-support-centre"
SCHOOL = "kz-75-school-12"
VIEWS = {"casework": casework.OBLIGATIONS, "familycentre": familycentre.OBLIGATIONS}
ROUTING_CATALOGUE = Path(__file__).parents[2] / "services" / "routing" / "seed" / "catalogue.json"


@dataclass
class Deps:
    """Only what the read model asks of a service's deps."""

    engine: Engine
    clock: FixedClock


@pytest.fixture(params=sorted(VIEWS))
def service(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def deps(service: str, migrated_engine: Callable[[str], Engine]) -> Deps:
    return Deps(migrated_engine(service), FixedClock(NOW))


def opening(actor_type: str = "family_support_centre", actor: str = CENTRE) -> ObligationOpened:
    case_id = uuid.uuid4()
    return ObligationOpened(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        obligation_id=uuid.uuid4(),
        code="F8",
        legal_basis="Family Centre Rules 34499, p.24",
        actor_agency_type=actor_type,
        actor_agency_id=actor,
        target_agency_type="shelter",
        target_agency_id="kz-75-shelter",
        term="working_days:2",
        started_at=NOW - timedelta(hours=1),
        region="KZ-75",
    )


def fulfilment(opened: ObligationOpened) -> ObligationFulfilled:
    return ObligationFulfilled(
        **opened.follow(),
        producer="routing",
        occurred_at=NOW,
        obligation_id=opened.obligation_id,
        code=opened.code,
        met_at=NOW,
        met_by_agency_id=CENTRE,
        met_by_platform=True,
    )


def cancellation(opened: ObligationOpened) -> ObligationCancelled:
    return ObligationCancelled(
        **opened.follow(),
        producer="routing",
        occurred_at=NOW,
        obligation_id=opened.obligation_id,
        code=opened.code,
        reason="declined: re-routed",
    )


def rows(view: ObligationsView, deps: Deps) -> list[dict[str, Any]]:
    with unit_of_work(deps.engine) as session:
        return [row.model_dump() for row in session.exec(select(view.obligations)).all()]


def inbox(deps: Deps) -> list[tuple[str, str]]:
    with unit_of_work(deps.engine) as session:
        entries = session.exec(select(InboxEntry).order_by(col(InboxEntry.consumer))).all()
        return [(entry.consumer, entry.event_id) for entry in entries]


def test_an_opening_is_kept_once_though_it_comes_twice(service: str, deps: Deps) -> None:
    view = VIEWS[service]
    opened = opening()
    view.opened(opened, deps=deps)
    view.opened(opened, deps=deps)
    [row] = rows(view, deps)
    assert (row["obligation_id"], row["case_id"], row["code"], row["status"]) == (
        str(opened.obligation_id),
        str(opened.case_id),
        "F8",
        "open",
    )
    assert (row["actor_agency_id"], row["target_agency_type"], row["term"]) == (
        CENTRE,
        "shelter",
        "working_days:2",
    )
    # Casework keeps the target agency; the centre's table has no column for it.
    assert row.get("target_agency_id") == ("kz-75-shelter" if service == "casework" else None)
    assert inbox(deps) == [(f"{service}-obligation_opened", str(opened.event_id))]


def test_a_fulfilment_settles_an_open_obligation_and_a_later_withdrawal_does_not(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    opened = opening()
    view.opened(opened, deps=deps)
    met = fulfilment(opened)
    view.fulfilled(met, deps=deps)
    view.fulfilled(met, deps=deps)
    view.cancelled(cancellation(opened), deps=deps)
    [row] = rows(view, deps)
    assert (row["status"], row["met_at"], row["met_by_agency_id"], row["cancel_reason"]) == (
        "met",
        NOW,
        CENTRE,
        None,
    )
    assert row.get("met_by_platform") == (True if service == "casework" else None)
    assert [consumer for consumer, _ in inbox(deps)] == [
        f"{service}-obligation_cancelled",
        f"{service}-obligation_fulfilled",
        f"{service}-obligation_opened",
    ]


def test_a_withdrawal_cancels_an_open_obligation(service: str, deps: Deps) -> None:
    view = VIEWS[service]
    opened = opening()
    view.opened(opened, deps=deps)
    view.cancelled(cancellation(opened), deps=deps)
    [row] = rows(view, deps)
    assert (row["status"], row["cancel_reason"], row["met_at"]) == (
        "cancelled",
        "declined: re-routed",
        None,
    )


def pending(view: ObligationsView, deps: Deps) -> list[tuple[str, str, bool]]:
    assert view.pending is not None
    with unit_of_work(deps.engine) as session:
        kept = session.exec(select(view.pending).order_by(col(view.pending.received_at))).all()
        return [(row.event_id, row.kind, row.applied_at is not None) for row in kept]


def test_a_fulfilment_before_its_opening_is_kept_and_applied_when_it_opens(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    opened = opening()
    met = fulfilment(opened)
    # Taken on its first delivery: nothing is left to the bus's redeliveries.
    view.fulfilled(met, deps=deps)
    view.fulfilled(met, deps=deps)
    assert rows(view, deps) == []
    assert pending(view, deps) == [(str(met.event_id), "fulfilled", False)]
    assert inbox(deps) == [(f"{service}-obligation_fulfilled", str(met.event_id))]
    view.opened(opened, deps=deps)
    [row] = rows(view, deps)
    assert (row["status"], row["met_at"], row["met_by_agency_id"]) == ("met", NOW, CENTRE)
    assert pending(view, deps) == [(str(met.event_id), "fulfilled", True)]
    # Applied once: the opening again changes nothing.
    view.opened(opened, deps=deps)
    assert [row["status"] for row in rows(view, deps)] == ["met"]


def test_an_early_withdrawal_then_an_early_fulfilment_leave_it_withdrawn(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    opened = opening()
    withdrawn = cancellation(opened)
    view.cancelled(withdrawn, deps=deps)
    deps.clock.advance(timedelta(seconds=1))
    view.fulfilled(fulfilment(opened), deps=deps)
    view.opened(opened, deps=deps)
    [row] = rows(view, deps)
    # The first to arrive settles it, as in order: the later one finds it no longer open.
    assert (row["status"], row["cancel_reason"], row["met_at"]) == (
        "cancelled",
        "declined: re-routed",
        None,
    )
    assert [applied for _, _, applied in pending(view, deps)] == [True, True]


def test_the_centre_passes_over_a_settlement_of_a_row_not_opened_on_a_centre(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    on_a_school = opening("education_org", SCHOOL).model_copy(update={"code": "R2"})
    met = fulfilment(on_a_school)
    view.fulfilled(met, deps=deps)
    view.cancelled(cancellation(on_a_school), deps=deps)
    assert rows(view, deps) == []
    # Casework keeps every obligation, so it keeps this one's settlements for its opening; the
    # centre keeps only its own rows' (F7, F8) and does not even claim another's.
    if service == "casework":
        assert sorted(kind for _, kind, _ in pending(view, deps)) == ["cancelled", "fulfilled"]
        assert [consumer for consumer, _ in inbox(deps)] == [
            "casework-obligation_cancelled",
            "casework-obligation_fulfilled",
        ]
    else:
        assert (pending(view, deps), inbox(deps)) == ([], [])


def test_the_centre_awaits_exactly_the_rows_routing_opens_on_a_centre() -> None:
    catalogue = json.loads(ROUTING_CATALOGUE.read_text(encoding="utf-8"))
    rows_ = catalogue["rows"]
    on_a_centre = {row["code"] for row in rows_ if row["actor"] == "family_support_centre"}
    assert on_a_centre == familycentre.ROUTED_TO_CENTRE


def test_the_centre_keeps_only_what_routing_opened_on_a_centre(service: str, deps: Deps) -> None:
    view = VIEWS[service]
    on_a_school = opening("education_org", SCHOOL)
    view.opened(on_a_school, deps=deps)
    kept = [row["obligation_id"] for row in rows(view, deps)]
    assert kept == ([str(on_a_school.obligation_id)] if service == "casework" else [])


def test_a_directory_entry_is_kept_once_under_the_services_inbox_name(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "correlation_id": uuid.uuid4(),
        "producer": "routing",
        "directory_agency_id": "kz-75-new-school",
        "agency_type": "education_org",
        "region": "KZ-75",
        "name_kk": "Мектеп",
        "name_ru": "Ш" * 400,
        "name_en": "School",
        "active": True,
    }
    registered = AgencyRegistered(**fields)
    changed = AgencyChanged(**{**fields, "active": False}, changed=("active",))
    for event in (registered, registered, changed):
        view.directory_entry(event, deps=deps)
    with unit_of_work(deps.engine) as session:
        row = session.get(view.directory, "kz-75-new-school")
        assert row is not None
        assert (row.agency_type, row.active, row.name_kk, row.name_ru) == (
            "education_org",
            False,
            "Мектеп",
            "Ш" * 300,
        )
    names = {consumer for consumer, _ in inbox(deps)}
    assert names == (
        {"casework-agency_registered", "casework-agency_changed"}
        if service == "casework"
        else {"familycentre-directory"}
    )
    assert len(inbox(deps)) == 2


def test_a_seeded_replica_is_not_seeded_again(service: str, deps: Deps) -> None:
    view = VIEWS[service]
    shipped = CASEWORK_AGENCIES if service == "casework" else CENTRE_AGENCIES
    first = view.seed_directory(deps=deps, path=shipped)
    assert first > 0
    assert view.seed_directory(deps=deps, path=shipped) == 0
    with unit_of_work(deps.engine) as session:
        assert len(session.exec(select(view.directory)).all()) == first


def test_durable_consumer_names_are_those_in_production() -> None:
    durables = {
        name: {c.durable for c in found} for name, found in service_consumers(sorted(VIEWS)).items()
    }
    for name in VIEWS:
        assert {
            f"{name}-routing-obligations",
            f"{name}-agency-registered",
            f"{name}-agency-changed",
        } <= durables[name]


def test_a_service_settles_its_own_obligation_and_stages_the_event_under_its_subject(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    met, withdrawn = opening(), opening()
    for each in (met, withdrawn):
        view.opened(each, deps=deps)
    fields = {**met.follow(), "producer": service, "occurred_at": NOW}
    with unit_of_work(deps.engine) as session:
        row = session.get(view.obligations, str(met.obligation_id))
        assert row is not None
        stage_met(
            session, row, service=service, met_at=NOW, by_agency_id=CENTRE, fields=fields, now=NOW
        )
        row = session.get(view.obligations, str(withdrawn.obligation_id))
        assert row is not None
        stage_cancelled(session, row, service=service, reason="r" * 250, fields=fields, now=NOW)
        session.commit()
    settled = {row["obligation_id"]: row for row in rows(view, deps)}
    first, second = settled[str(met.obligation_id)], settled[str(withdrawn.obligation_id)]
    assert (first["status"], first["met_at"], first["met_by_agency_id"]) == ("met", NOW, CENTRE)
    assert (second["status"], second["cancel_reason"]) == ("cancelled", "r" * 200)
    with unit_of_work(deps.engine) as session:
        staged = [
            (row.subject, json.loads(row.payload))
            for row in session.exec(select(OutboxRow).order_by(col(OutboxRow.id))).all()
        ]
    assert [subject for subject, _ in staged] == [
        f"qorgau.{service}.obligation_fulfilled.v1",
        f"qorgau.{service}.obligation_cancelled.v1",
    ]
    fulfilled, cancelled = staged[0][1], staged[1][1]
    assert (fulfilled["obligation_id"], fulfilled["met_by_agency_id"]) == (
        str(met.obligation_id),
        CENTRE,
    )
    assert fulfilled["met_by_platform"] is False
    assert (cancelled["obligation_id"], cancelled["reason"]) == (
        str(withdrawn.obligation_id),
        "r" * 250,
    )


def test_a_settlement_whose_opening_never_comes_is_shown_overdue(
    service: str, deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    view = VIEWS[service]
    assert view.pending is not None
    watch = Watch(deps.engine, view.pending, deps.clock)
    assert watch.health() == {"status": "unknown"}
    opened = opening()
    view.fulfilled(fulfilment(opened), deps=deps)
    deps.clock.advance(OVERDUE_AFTER - timedelta(seconds=1))
    watch.step()
    assert (watch.health()["status"], watch.health()["overdue"]) == ("ok", 0)
    deps.clock.advance(timedelta(seconds=2))
    with caplog.at_level("WARNING", logger="shared.settlements"):
        watch.step()
    assert watch.health() == {
        "status": "attention",
        "overdue": 1,
        "oldest_received_at": NOW.isoformat(),
        "read_at": deps.clock.now().isoformat(),
    }
    assert "1 settlements have waited" in caplog.text
    # Its opening comes late: nothing waits any more.
    view.opened(opened, deps=deps)
    watch.step()
    assert (watch.health()["status"], watch.health()["overdue"]) == ("ok", 0)
    assert [row["status"] for row in rows(view, deps)] == ["met"]


def test_in_one_batch_an_opening_applies_a_settlement_kept_earlier_in_it(
    service: str, deps: Deps
) -> None:
    view = VIEWS[service]
    first, second = opening(), opening()
    with unit_of_work(deps.engine) as session:
        # As a batch applies them: the first opening finds nothing waiting (on SQLite, read
        # once for the transaction); a fulfilment then waits; its opening must still see it.
        view.apply_opened(session, first, deps=deps)
        view.apply_fulfilled(session, fulfilment(second), deps=deps)
        view.apply_fulfilled(session, fulfilment(first), deps=deps)
        view.apply_opened(session, second, deps=deps)
        session.commit()
    statuses = {row["obligation_id"]: row["status"] for row in rows(view, deps)}
    assert statuses == {str(first.obligation_id): "met", str(second.obligation_id): "met"}
    assert [applied for _, _, applied in pending(view, deps)] == [True]
