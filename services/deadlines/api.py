"""Deadlines' HTTP routes: the accountability view of a case, agencies and the calendar."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.deadlines import domain, repository
from services.deadlines.handlers import (
    BadOverrides,
    DeadlinesDeps,
    apply_calendar_change,
    parse_days,
)
from services.deadlines.tables import Obligation, TimelineEntry
from shared.access import Gatekeeper, forbidden
from shared.agencies import AgencyType, is_region
from shared.auth import Principal, Refused, Role, principal
from shared.clock import ALMATY
from shared.db import unit_of_work

AGENCY_STATUSES = ("open", "breached", "due_soon", "met", "cancelled")
MAX_LIMIT = 5000
MAX_BODY_BYTES = 64 * 1024


def _time(value: datetime | None) -> str | None:
    # Times answer in Almaty time with their offset (public contract).
    return value.astimezone(ALMATY).isoformat() if value is not None else None


def obligation_view(o: Obligation, *, now: datetime | None = None) -> dict[str, Any]:
    """Render an obligation as the public contract names its fields (and a few more)."""
    due_soon = (
        now is not None
        and o.status == domain.Status.OPEN
        and o.warn_at is not None
        and o.due_at is not None
        and o.warn_at <= now < o.due_at
    )
    return {
        "obligation_id": o.obligation_id,
        "case_id": o.case_id,
        "code": o.code,
        "legal_basis": o.legal_basis,
        "actor_agency_type": o.actor_agency_type,
        "actor_agency_id": o.actor_agency_id,
        "target_agency_type": o.target_agency_type,
        "target_agency_id": o.target_agency_id,
        "region": o.region,
        "term": o.term,
        "started_at": _time(o.started_at),
        "due_at": _time(o.due_at),
        "warn_at": _time(o.warn_at),
        "due_soon": due_soon,
        "status": o.status,
        "breached_at": _time(o.breached_at),
        "met_at": _time(o.met_at),
        "met_by_agency_id": o.met_by_agency_id,
        "met_by_platform": o.met_by_platform,
        "on_time": o.on_time,
        "cancelled_at": _time(o.cancelled_at),
        "cancel_reason": o.cancel_reason,
        "series_id": o.series_id,
        "occurrence": o.occurrence,
        "escalation_level": o.escalation_level,
        "escalates_obligation_id": o.escalates_obligation_id,
    }


def timeline_view(e: TimelineEntry, touched: Obligation | None) -> dict[str, Any]:
    """Render a timeline entry; an act on an obligation is judged against its due time."""
    on_time = e.on_time
    if on_time is None and touched is not None and touched.due_at is not None:
        if e.event.endswith(".obligation_fulfilled"):
            on_time = (e.acted_at or e.occurred_at) <= touched.due_at
    return {
        "event_id": e.event_id,
        "event": e.event,
        "occurred_at": _time(e.occurred_at),
        "agency_id": e.agency_id,
        "agency_type": e.agency_type,
        "target_agency_id": e.target_agency_id,
        "target_agency_type": e.target_agency_type,
        "obligation_id": e.obligation_id,
        "code": e.code,
        "obligation_status": touched.status if touched is not None else None,
        "on_time": on_time,
    }


def _unprocessable(problems: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {
            "detail": [
                {"field": field, "message": message, "type": "value_error"}
                for field, message in problems.items()
            ]
        },
        status_code=422,
    )


def _moment(text: str, *, end: bool) -> datetime:
    """A date (start of that Almaty day; with end=True, of the next) or a datetime with offset."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day + timedelta(days=1 if end else 0), time.min, tzinfo=ALMATY)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time needs its offset, e.g. +05:00")
    return moment


Caller = Annotated[Principal, Depends(principal)]
OPERATORS = frozenset({Role.OPERATOR})


def router(
    deps: DeadlinesDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] = lambda: None
) -> APIRouter:
    """Build deadlines' routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter()

    def gated_case(who: Principal, case_id: str, action: str) -> None:
        # An agency sees a case only if it holds an obligation on it, or is its target.
        if who.role is Role.OPERATOR:
            return
        with unit_of_work(deps.engine) as session:
            held = repository.agency_holds_case(session, case_id=case_id, agency_id=who.agency_id)
        reason = "the agency holds no obligation on this case"
        gate.require(who, held, action=action, case_id=case_id, reason=reason)

    def gated_agency(who: Principal, agency_id: str) -> None:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "an agency reads only its own obligations"
        gate.require(who, own, action="agency.obligations.read", case_id=None, reason=reason)

    async def checked(call: Callable[[], Any]) -> None:
        try:
            await run_in_threadpool(call)
        except Refused as refused:
            raise forbidden(refused) from None

    def _case(case_id: str) -> list[dict[str, Any]]:
        now = deps.clock.now()
        with unit_of_work(deps.engine) as session:
            rows = repository.of_case(session, case_id=case_id)
            return [obligation_view(o, now=now) for o in rows]

    @routes.get("/v1/cases/{case_id}/obligations")
    async def case_obligations(case_id: str, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.obligations.read"))
        return {"case_id": case_id, "obligations": await run_in_threadpool(_case, case_id)}

    def _timeline(case_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            entries = repository.timeline(session, case_id=case_id)
            touched = repository.obligations_by_id(
                session, ids=(e.obligation_id for e in entries if e.obligation_id)
            )
            return [timeline_view(e, touched.get(e.obligation_id or "")) for e in entries]

    @routes.get("/v1/cases/{case_id}/timeline")
    async def case_timeline(case_id: str, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.timeline.read"))
        return {"case_id": case_id, "events": await run_in_threadpool(_timeline, case_id)}

    def _agency(agency_id: str, status: str | None, limit: int) -> list[dict[str, Any]]:
        now = deps.clock.now()
        with unit_of_work(deps.engine) as session:
            rows = repository.of_agency(
                session, agency_id=agency_id, status=status, now=now, limit=limit
            )
            return [obligation_view(o, now=now) for o in rows]

    @routes.get("/v1/agencies/{agency_id}/obligations", response_model=None)
    async def agency_obligations(
        agency_id: str, request: Request, who: Caller
    ) -> dict[str, Any] | JSONResponse:
        await checked(lambda: gated_agency(who, agency_id))
        status = request.query_params.get("status") or None
        problems: dict[str, str] = {}
        if status is not None and status not in AGENCY_STATUSES:
            problems["status"] = f"must be one of {', '.join(AGENCY_STATUSES)}"
        text = request.query_params.get("limit", "500")
        limit = int(text) if text.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            problems["limit"] = f"must be a whole number within 1 and {MAX_LIMIT}"
        if problems:
            return _unprocessable(problems)
        rows = await run_in_threadpool(_agency, agency_id, status, limit)
        return {"agency_id": agency_id, "status": status, "obligations": rows}

    def _compliance(
        region: str | None, agency_type: str | None, start: datetime | None, end: datetime | None
    ) -> list[dict[str, Any]]:
        now = deps.clock.now()
        with unit_of_work(deps.engine) as session:
            rows = repository.compliance_rows(
                session, region=region, agency_type=agency_type, due_from=start, due_to=end
            )
        groups: dict[tuple[str | None, str, str | None], list[domain.Outcome]] = defaultdict(list)
        for agency_id, type_, region_, due_at, met_at, status in rows:
            groups[(agency_id, type_, region_)].append(
                domain.Outcome(due_at=due_at, met_at=met_at, status=domain.Status(status))
            )
        answer = []
        for (agency_id, type_, region_), outcomes in sorted(
            groups.items(), key=lambda item: tuple(str(part) for part in item[0])
        ):
            f = domain.figures(outcomes, now=now)
            answer.append(
                {
                    "agency_id": agency_id,
                    "agency_type": type_,
                    "region": region_,
                    "obligations": f.obligations,
                    "met_on_time": f.met_on_time,
                    "late": f.late,
                    "pending": f.pending,
                    "on_time_percent": f.on_time_percent,
                    "median_lateness_seconds": f.median_lateness_seconds,
                    "p90_lateness_seconds": f.p90_lateness_seconds,
                    "open_breaches": f.open_breaches,
                }
            )
        return answer

    @routes.get("/v1/compliance", response_model=None)
    async def compliance(request: Request, who: Caller) -> dict[str, Any] | JSONResponse:
        # Figures across agencies are for operators who supervise them.
        await checked(lambda: gate.require_role(who, OPERATORS, action="compliance.read"))
        query = request.query_params
        problems: dict[str, str] = {}
        region = query.get("region") or None
        if region is not None and not is_region(region):
            problems["region"] = "not a region of Kazakhstan (ISO 3166-2, e.g. KZ-75)"
        agency_type = query.get("agency_type") or None
        if agency_type is not None and agency_type not in {t.value for t in AgencyType}:
            problems["agency_type"] = "not an agency type code of REGULATIONS.md"
        bounds: dict[str, datetime | None] = {"from": None, "to": None}
        for name in bounds:
            text = query.get(name) or None
            if text is None:
                continue
            try:
                bounds[name] = _moment(text, end=name == "to")
            except ValueError as error:
                problems[name] = f"not a date (YYYY-MM-DD) or a time with offset: {error}"
        start, end = bounds["from"], bounds["to"]
        if start is not None and end is not None and end <= start:
            problems["to"] = "must be after from"
        if problems:
            return _unprocessable(problems)
        agencies = await run_in_threadpool(_compliance, region, agency_type, start, end)
        return {
            "region": region,
            "agency_type": agency_type,
            "from": _time(start),
            "to": _time(end),
            # Obligations are counted in the period their term ended (due_at in [from, to)).
            "basis": "due_at",
            "agencies": agencies,
        }

    def _overrides() -> dict[str, Any]:
        with unit_of_work(deps.engine) as session:
            rows = [(r.day.isoformat(), r.kind, r.source) for r in repository.overrides(session)]
            version = repository.calendar_version(session, share_lock=False)
        return {
            "version": version,
            "days_off": [day for day, kind, _ in rows if kind == "day_off"],
            "working_days": [day for day, kind, _ in rows if kind == "working_day"],
            "entries": [{"day": day, "kind": kind, "source": source} for day, kind, source in rows],
        }

    @routes.get("/v1/calendar/overrides")
    async def get_overrides(who: Caller) -> dict[str, Any]:
        return await run_in_threadpool(_overrides)

    @routes.post("/v1/calendar/overrides", response_model=None)
    async def post_overrides(request: Request, who: Caller) -> dict[str, Any] | JSONResponse:
        # The calendar moves every open term: only an operator changes it.
        await checked(lambda: gate.require_role(who, OPERATORS, action="calendar.change"))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _unprocessable({"body": f"request body over {MAX_BODY_BYTES} bytes"})
        try:
            data: Any = json.loads(body)
        except ValueError:
            return _unprocessable({"body": "not JSON"})
        if not isinstance(data, dict):
            return _unprocessable({"body": "expected an object with days_off and working_days"})
        problems: dict[str, str] = {}
        for key in sorted(set(data) - {"days_off", "working_days"}):
            problems[str(key)] = "unknown field"
        days_off = parse_days(data.get("days_off"), "days_off", problems)
        working_days = parse_days(data.get("working_days"), "working_days", problems)
        if problems:
            return _unprocessable(problems)
        try:
            change = await run_in_threadpool(
                lambda: apply_calendar_change(
                    deps=deps, days_off=days_off, working_days=working_days, source="api"
                )
            )
        except BadOverrides as error:
            return _unprocessable(error.problems)
        wake_relay()
        return {
            "version": change.version,
            "changed_days": [d.isoformat() for d in change.changed_days],
            "rescheduled": change.rescheduled,
        }

    @routes.delete("/v1/calendar/overrides/{day}", response_model=None)
    async def delete_override(day: str, who: Caller) -> dict[str, Any] | JSONResponse:
        await checked(lambda: gate.require_role(who, OPERATORS, action="calendar.change"))
        problems: dict[str, str] = {}
        days = parse_days([day], "day", problems)
        if problems:
            return _unprocessable({"day": "not a date in the form YYYY-MM-DD"})
        change = await run_in_threadpool(
            lambda: apply_calendar_change(deps=deps, remove=days, source="api")
        )
        if not change.changed_days:
            return JSONResponse({"detail": f"no override on {day}"}, status_code=404)
        wake_relay()
        return {
            "version": change.version,
            "changed_days": [d.isoformat() for d in change.changed_days],
            "rescheduled": change.rescheduled,
        }

    return routes
