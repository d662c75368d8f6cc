"""Deadlines' HTTP routes: the accountability view of a case, agencies and the calendar.

Routes check the caller, let FastAPI and pydantic read the input, then call handlers (changes)
or views (reads). Bad input answers 422 with one entry per field, named as the client wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BeforeValidator, PlainValidator, ValidationError
from starlette.concurrency import run_in_threadpool

from services.deadlines import views
from services.deadlines.handlers import (
    BadOverrides,
    CalendarChange,
    DeadlinesDeps,
    apply_calendar_change,
)
from services.deadlines.views import almaty_time as _time
from shared.access import Gatekeeper, forbidden
from shared.agencies import AgencyType, is_region
from shared.auth import Principal, Refused, Role, principal
from shared.calendar import FIRST_DAY, LAST_DAY, IsoDay, OverridesDocument
from shared.clock import ALMATY
from shared.http import DEFAULT_MAX_BODY_BYTES, FieldErrorsRoute, PathId, limited_body
from shared.openapi import Region, json_body, refusals
from shared.runtime import field_errors

AgencyStatus = Literal["open", "breached", "due_soon", "met", "cancelled"]
MAX_LIMIT = 5000

Caller = Annotated[Principal, Depends(principal)]
OPERATORS = frozenset({Role.OPERATOR})


def _blank_is_none(value: object) -> object:
    # An empty query parameter (?status=) means the filter is not set.
    return value or None


def _region(value: str | None) -> str | None:
    if value is not None and not is_region(value):
        raise ValueError("not a region of Kazakhstan (ISO 3166-2, e.g. KZ-75)")
    return value


def _agency_type(value: str | None) -> str | None:
    if value is not None and value not in {kind.value for kind in AgencyType}:
        raise ValueError("not an agency type code of REGULATIONS.md")
    return value


def _moment(text: str, *, end: bool) -> datetime:
    """A date (start of that Almaty day; with end=True, of the next) or a datetime with offset."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        _in_calendar(day)
        return datetime.combine(day + timedelta(days=1 if end else 0), time.min, tzinfo=ALMATY)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time needs its offset, e.g. +05:00")
    _in_calendar(moment.date())
    return moment


def _in_calendar(day: date) -> None:
    # Terms fall on the calendar's days; the years past its ends are not a time in UTC either.
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"outside {FIRST_DAY} to {LAST_DAY}")


def _ascii_number(value: object) -> object:
    # Only ASCII digits are a number here ("²", "١٠", "1_0" are refused, not read as one).
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("not a whole number in ASCII digits")
    return value


def _bound(*, end: bool) -> Callable[[object], datetime | None]:
    def parse(value: object) -> datetime | None:
        if not value:
            return None
        try:
            return _moment(str(value), end=end)
        except ValueError as error:
            raise ValueError(f"not a date (YYYY-MM-DD) or a time with offset: {error}") from None

    return parse


StatusQuery = Annotated[AgencyStatus | None, BeforeValidator(_blank_is_none), Query()]
LimitQuery = Annotated[int, BeforeValidator(_ascii_number), Query(ge=1, le=MAX_LIMIT)]
RegionQuery = Annotated[
    Region | None, BeforeValidator(_blank_is_none), AfterValidator(_region), Query()
]
AgencyTypeQuery = Annotated[
    str | None, BeforeValidator(_blank_is_none), AfterValidator(_agency_type), Query()
]
FromQuery = Annotated[datetime | None, PlainValidator(_bound(end=False)), Query(alias="from")]
# A date as the end of a period includes that whole day.
ToQuery = Annotated[datetime | None, PlainValidator(_bound(end=True)), Query(alias="to")]


def _unprocessable(problems: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=422)


def _problem(field: str, message: str) -> dict[str, Any]:
    return {"field": field, "message": message, "type": "value_error"}


def _change(change: CalendarChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "changed_days": [day.isoformat() for day in change.changed_days],
        "rescheduled": change.rescheduled,
    }


def router(
    deps: DeadlinesDeps,
    *,
    gate: Gatekeeper,
    wake_relay: Callable[[], None] = lambda: None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """Build deadlines' routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter(route_class=FieldErrorsRoute, responses=refusals(403, 404))

    async def checked(call: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(call)
        except Refused as refused:
            raise forbidden(refused) from None

    def gated_case(who: Principal, case_id: str, action: str) -> bool:
        # An agency sees a case only if it holds or is the target of an obligation, or acted on it.
        return gate.require_case(
            who,
            lambda: views.case_standing(deps, case_id=case_id, agency_id=who.agency_id),
            action=action,
            case_id=case_id,
            reason="the agency holds no obligation on this case",
        )

    # The checks below run as dependencies, before the query is read: a caller who may not ask
    # is refused (and audited) whatever the query says.
    async def agency_reader(agency_id: PathId, who: Caller) -> None:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "an agency reads only its own obligations"
        await checked(
            lambda: gate.require(
                who, own, action="agency.obligations.read", case_id=None, reason=reason
            )
        )

    async def compliance_reader(who: Caller) -> None:
        # Figures across agencies are for operators who supervise them.
        await checked(lambda: gate.require_role(who, OPERATORS, action="compliance.read"))

    async def calendar_changer(who: Caller) -> None:
        # The calendar moves every open term: only an operator changes it.
        await checked(lambda: gate.require_role(who, OPERATORS, action="calendar.change"))

    @routes.get("/v1/cases/{case_id}/obligations")
    async def case_obligations(case_id: PathId, who: Caller) -> dict[str, Any]:
        if not await checked(lambda: gated_case(who, case_id, "case.obligations.read")):
            return {"case_id": case_id, "obligations": []}
        rows = await run_in_threadpool(lambda: views.case_obligations(deps, case_id=case_id))
        return {"case_id": case_id, "obligations": rows}

    @routes.get("/v1/cases/{case_id}/timeline")
    async def case_timeline(case_id: PathId, who: Caller) -> dict[str, Any]:
        if not await checked(lambda: gated_case(who, case_id, "case.timeline.read")):
            return {"case_id": case_id, "events": []}
        events = await run_in_threadpool(lambda: views.case_timeline(deps, case_id=case_id))
        return {"case_id": case_id, "events": events}

    @routes.get("/v1/agencies/{agency_id}/obligations", dependencies=[Depends(agency_reader)])
    async def agency_obligations(
        agency_id: PathId, status: StatusQuery = None, limit: LimitQuery = 500
    ) -> dict[str, Any]:
        rows = await run_in_threadpool(
            lambda: views.agency_obligations(deps, agency_id=agency_id, status=status, limit=limit)
        )
        return {"agency_id": agency_id, "status": status, "obligations": rows}

    @routes.get("/v1/compliance", response_model=None, dependencies=[Depends(compliance_reader)])
    async def compliance(
        region: RegionQuery = None,
        agency_type: AgencyTypeQuery = None,
        start: FromQuery = None,
        end: ToQuery = None,
    ) -> dict[str, Any] | JSONResponse:
        if start is not None and end is not None and end <= start:
            return _unprocessable([_problem("to", "must be after from")])
        agencies = await run_in_threadpool(
            lambda: views.compliance(
                deps, region=region, agency_type=agency_type, due_from=start, due_to=end
            )
        )
        return {
            "region": region,
            "agency_type": agency_type,
            "from": _time(start),
            "to": _time(end),
            # Obligations are counted in the period their term ended (due_at in [from, to)).
            "basis": "due_at",
            "agencies": agencies,
        }

    @routes.get("/v1/calendar/overrides")
    async def get_overrides(who: Caller) -> dict[str, Any]:
        return await run_in_threadpool(lambda: views.calendar_overrides(deps))

    @routes.post(
        "/v1/calendar/overrides",
        response_model=None,
        dependencies=[Depends(calendar_changer)],
        openapi_extra=json_body(OverridesDocument),
    )
    async def post_overrides(request: Request) -> dict[str, Any] | JSONResponse:
        body = await limited_body(request, max_body_bytes)
        if isinstance(body, JSONResponse):
            return body
        try:
            document = OverridesDocument.model_validate_json(body)
        except ValidationError as error:
            return _unprocessable(field_errors(error.errors()))
        try:
            change = await run_in_threadpool(
                lambda: apply_calendar_change(
                    deps=deps,
                    days_off=document.days_off,
                    working_days=document.working_days,
                    source="api",
                )
            )
        except BadOverrides as error:
            return _unprocessable([_problem(name, why) for name, why in error.problems.items()])
        wake_relay()
        return _change(change)

    @routes.delete(
        "/v1/calendar/overrides/{day}",
        response_model=None,
        dependencies=[Depends(calendar_changer)],
    )
    async def delete_override(day: IsoDay) -> dict[str, Any] | JSONResponse:
        change = await run_in_threadpool(
            lambda: apply_calendar_change(deps=deps, remove=[day], source="api")
        )
        if not change.changed_days:
            return JSONResponse({"detail": f"no override on {day.isoformat()}"}, status_code=404)
        wake_relay()
        return _change(change)

    return routes
