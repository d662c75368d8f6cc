"""A report routing can send to no one is never silent: routing raises report_unrouted.

Routing's handlers run on SQLite and PostgreSQL; the outbox holds what would be published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from services.routing import catalogue, handlers
from shared.contracts.alerts import ReportUnrouted
from tests.integration.test_routing_handlers import NOW, Routing, make_routing, report


def unrouted(routing: Routing) -> list[dict[str, object]]:
    return routing.outbox(subject=ReportUnrouted.subject())


def test_a_report_no_row_applies_to_raises_an_alert(
    migrated_engine: Callable[[str], Engine],
) -> None:
    # A catalogue with no row in force on the report's day (the seeds before any act).
    routing = make_routing(migrated_engine("routing"))
    rules = dataclasses.replace(catalogue.load(), rows=())
    routing.deps = dataclasses.replace(routing.deps, rules=rules)
    event = report(received_at=datetime(2026, 6, 12, 5, 0, tzinfo=UTC))
    handlers.on_report_received(event, deps=routing.deps)
    assert routing.referrals(event.case_id) == []
    assert routing.obligations(event.case_id) == []
    [alert] = unrouted(routing)
    assert alert["case_id"] == str(event.case_id)
    assert alert["report_id"] == str(event.report_id)
    assert alert["causation_id"] == str(event.event_id)
    assert alert["region"] == "KZ-75"
    assert alert["reason"] == "no_row_in_force"
    # A redelivery changes nothing: one alert.
    handlers.on_report_received(event, deps=routing.deps)
    assert len(unrouted(routing)) == 1


def test_rows_in_force_that_do_not_apply_raise_an_alert_too(
    migrated_engine: Callable[[str], Engine],
) -> None:
    # Only the rows an agency's receipt of the case triggers: none fires on a report alone.
    routing = make_routing(migrated_engine("routing"))
    rules = catalogue.load()
    received = tuple(row for row in rules.rows if row.trigger == "received")
    routing.deps = dataclasses.replace(
        routing.deps, rules=dataclasses.replace(rules, rows=received)
    )
    event = report(received_at=NOW)
    handlers.on_report_received(event, deps=routing.deps)
    [alert] = unrouted(routing)
    assert alert["reason"] == "no_row_applies"


def test_a_routed_report_raises_no_alert(migrated_engine: Callable[[str], Engine]) -> None:
    routing = make_routing(migrated_engine("routing"))
    event = report(received_at=NOW)
    handlers.on_report_received(event, deps=routing.deps)
    assert routing.obligations(event.case_id)
    assert unrouted(routing) == []
