"""Deadlines' read models: read-only queries shaped as the API answers them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from services.deadlines import domain, repository
from services.deadlines.handlers import DeadlinesDeps
from services.deadlines.tables import Obligation, TimelineEntry
from shared.access import CaseStanding
from shared.clock import ALMATY
from shared.db import unit_of_work


def almaty_time(value: datetime | None) -> str | None:
    """A time as the API answers it: in Almaty time, with its offset (public contract)."""
    return value.astimezone(ALMATY).isoformat() if value is not None else None


def obligation_view(obligation: Obligation, *, now: datetime | None = None) -> dict[str, Any]:
    """Render an obligation as the public contract names its fields (and a few more)."""
    due_soon = (
        now is not None
        and obligation.status == domain.Status.OPEN
        and obligation.warn_at is not None
        and obligation.due_at is not None
        and obligation.warn_at <= now < obligation.due_at
    )
    return {
        "obligation_id": obligation.obligation_id,
        "case_id": obligation.case_id,
        "code": obligation.code,
        "legal_basis": obligation.legal_basis,
        "actor_agency_type": obligation.actor_agency_type,
        "actor_agency_id": obligation.actor_agency_id,
        "target_agency_type": obligation.target_agency_type,
        "target_agency_id": obligation.target_agency_id,
        "region": obligation.region,
        "term": obligation.term,
        "started_at": almaty_time(obligation.started_at),
        "due_at": almaty_time(obligation.due_at),
        "warn_at": almaty_time(obligation.warn_at),
        "due_soon": due_soon,
        "status": obligation.status,
        "breached_at": almaty_time(obligation.breached_at),
        "met_at": almaty_time(obligation.met_at),
        "met_by_agency_id": obligation.met_by_agency_id,
        "met_by_platform": obligation.met_by_platform,
        "on_time": obligation.on_time,
        "cancelled_at": almaty_time(obligation.cancelled_at),
        "cancel_reason": obligation.cancel_reason,
        "series_id": obligation.series_id,
        "occurrence": obligation.occurrence,
        "escalation_level": obligation.escalation_level,
        "escalates_obligation_id": obligation.escalates_obligation_id,
        "escalation_basis": obligation.escalation_basis,
    }


def timeline_view(entry: TimelineEntry, touched: Obligation | None) -> dict[str, Any]:
    """Render a timeline entry; an act on an obligation is judged against its due time."""
    on_time = entry.on_time
    if on_time is None and touched is not None and touched.due_at is not None:
        if entry.event.endswith(".obligation_fulfilled"):
            on_time = (entry.acted_at or entry.occurred_at) <= touched.due_at
    return {
        "event_id": entry.event_id,
        "event": entry.event,
        "occurred_at": almaty_time(entry.occurred_at),
        "agency_id": entry.agency_id,
        "agency_type": entry.agency_type,
        "target_agency_id": entry.target_agency_id,
        "target_agency_type": entry.target_agency_type,
        "obligation_id": entry.obligation_id,
        "code": entry.code,
        "obligation_status": touched.status if touched is not None else None,
        "on_time": on_time,
        "legal_basis": entry.legal_basis,
    }


def case_standing(deps: DeadlinesDeps, *, case_id: str, agency_id: str) -> CaseStanding:
    """Tell whether deadlines knows a case and whether the agency holds or acted on it."""
    with unit_of_work(deps.engine) as session:
        known, related = repository.case_standing(session, case_id=case_id, agency_id=agency_id)
    return CaseStanding(known=known, related=related)


def case_obligations(deps: DeadlinesDeps, *, case_id: str) -> list[dict[str, Any]]:
    """A case's obligations, earliest due first, those with no term last."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        rows = repository.of_case(session, case_id=case_id)
        return [obligation_view(obligation, now=now) for obligation in rows]


def case_timeline(deps: DeadlinesDeps, *, case_id: str) -> list[dict[str, Any]]:
    """A case's events in the order they happened, each with the obligation it touched."""
    with unit_of_work(deps.engine) as session:
        entries = repository.timeline(session, case_id=case_id)
        touched = repository.obligations_by_id(
            session, ids=(entry.obligation_id for entry in entries if entry.obligation_id)
        )
        return [timeline_view(entry, touched.get(entry.obligation_id or "")) for entry in entries]


def agency_obligations(
    deps: DeadlinesDeps, *, agency_id: str, status: str | None, limit: int
) -> list[dict[str, Any]]:
    """An agency's obligations: all, or those of one status (due_soon: open and due soon)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        rows = repository.of_agency(
            session, agency_id=agency_id, status=status, now=now, limit=limit
        )
        return [obligation_view(obligation, now=now) for obligation in rows]


def compliance(
    deps: DeadlinesDeps,
    *,
    region: str | None,
    agency_type: str | None,
    due_from: datetime | None,
    due_to: datetime | None,
) -> list[dict[str, Any]]:
    """Each agency's figures over the obligations due in [due_from, due_to), by agency."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        rows = repository.compliance_rows(
            session, region=region, agency_type=agency_type, due_from=due_from, due_to=due_to
        )
    groups: dict[tuple[str | None, str, str | None], list[domain.Outcome]] = defaultdict(list)
    for agency_id, actor_type, actor_region, due_at, met_at, status in rows:
        groups[(agency_id, actor_type, actor_region)].append(
            domain.Outcome(due_at=due_at, met_at=met_at, status=domain.Status(status))
        )
    answer = []
    for (agency_id, actor_type, actor_region), outcomes in sorted(
        groups.items(), key=lambda item: tuple(str(part) for part in item[0])
    ):
        figures = domain.figures(outcomes, now=now)
        answer.append(
            {
                "agency_id": agency_id,
                "agency_type": actor_type,
                "region": actor_region,
                "obligations": figures.obligations,
                "met_on_time": figures.met_on_time,
                "late": figures.late,
                "pending": figures.pending,
                "on_time_percent": figures.on_time_percent,
                "median_lateness_seconds": figures.median_lateness_seconds,
                "p90_lateness_seconds": figures.p90_lateness_seconds,
                "open_breaches": figures.open_breaches,
            }
        )
    return answer


def calendar_overrides(deps: DeadlinesDeps) -> dict[str, Any]:
    """The day transfers in force and the calendar's version."""
    with unit_of_work(deps.engine) as session:
        rows = [
            (row.day.isoformat(), row.kind, row.source) for row in repository.overrides(session)
        ]
        version = repository.calendar_version(session, share_lock=False)
    return {
        "version": version,
        "days_off": [day for day, kind, _ in rows if kind == "day_off"],
        "working_days": [day for day, kind, _ in rows if kind == "working_day"],
        "entries": [{"day": day, "kind": kind, "source": source} for day, kind, source in rows],
    }
