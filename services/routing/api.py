"""Routing's HTTP routes: they call handlers or read models, never build queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from services.routing import domain, handlers, views
from services.routing.handlers import RoutingDeps
from services.routing.views import agency_view, referral_view
from shared.access import Gatekeeper, forbidden
from shared.agencies import AgencyType, is_region
from shared.auth import APPROVE, DRAFT, Principal, Refused, Role, principal
from shared.contracts.routing import DeclineReason
from shared.http import PLAIN_TEXT, PathId
from shared.openapi import Region, refusals

AGENCY_ID = Field(default=None, min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")


class Answer(BaseModel):
    """An agency's answer to a referral; the agency is the token's (a body agency_id must match)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str | None = AGENCY_ID


class ReferIn(Answer):
    """A referral an agency decided on; `consent` where the row needs the person's (S1, F8)."""

    consent: bool = False


class DeclineIn(Answer):
    """A decline, with a reason code (free text could carry personal data)."""

    reason: DeclineReason


def _known_region(value: str | None) -> str | None:
    if value is not None and not is_region(value):
        raise ValueError("unknown region: use an ISO 3166-2 code of Kazakhstan, e.g. KZ-75")
    return value


def _not_null(value: object) -> object:
    # Called only for a value the client wrote: a field left out is not validated.
    if value is None:
        raise ValueError("may be left out, not null: every agency has one")
    return value


AgencyName = Annotated[str, Field(min_length=1, max_length=300, pattern=PLAIN_TEXT)]
# The fields every agency has: a change may leave one out (None) but never set it to null.
KEPT = ("agency_type", "name_kk", "name_ru", "name_en", "active")


def _null_not_documented(schema: dict[str, Any]) -> None:
    # The document says what a client may send: null is not among a kept field's values.
    for name in KEPT:
        field = schema["properties"][name]
        branches = [each for each in field.pop("anyOf", []) if each != {"type": "null"}]
        if len(branches) == 1:
            field.update(branches[0])


class AgencyIn(BaseModel):
    """An agency to add to the directory."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")
    agency_type: AgencyType
    region: Region | None = None
    district: str | None = Field(default=None, max_length=120, pattern=PLAIN_TEXT)
    name_kk: AgencyName
    name_ru: AgencyName
    name_en: AgencyName
    active: bool = True

    _region = field_validator("region")(_known_region)


class AgencyChange(BaseModel):
    """What changes in an agency of the directory; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_null_not_documented)

    agency_type: AgencyType | None = None
    region: Region | None = None
    district: str | None = Field(default=None, max_length=120, pattern=PLAIN_TEXT)
    name_kk: AgencyName | None = None
    name_ru: AgencyName | None = None
    name_en: AgencyName | None = None
    active: bool | None = None

    _region = field_validator("region")(_known_region)
    _kept = field_validator(*KEPT)(_not_null)


def _error(status: int, message: str, field: str | None = None) -> HTTPException:
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


def _refusals_as_http(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the domain's refusals into HTTP answers."""
    try:
        return call()
    except (handlers.UnknownReferral, handlers.UnknownAgency, handlers.UnknownObligation) as e:
        raise _error(404, f"not found: {e}") from None
    except domain.NotAddressee as error:
        raise _error(403, str(error)) from None
    except (domain.DirectoryInvalid, domain.ConsentMissing) as error:
        raise _error(422, str(error), error.field) from None
    except domain.RoutingError as error:
        # An illegal step (answered twice, nobody left, one national body per country).
        raise _error(409, str(error)) from None


Caller = Annotated[Principal, Depends(principal)]
RegionQuery = Annotated[Region | None, AfterValidator(_known_region), Query()]


def router(
    deps: RoutingDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build routing's routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    def gated_case(who: Principal, case_id: str, action: str) -> None:
        # An agency sees a case only if it reported, sent or received it or holds a duty on it.
        # A case routing has not heard of has no rows here: the views answer empty.
        gate.require_case(
            who,
            lambda: views.case_standing(deps.engine, case_id=case_id, agency_id=who.agency_id),
            action=action,
            case_id=case_id,
            reason="the agency has no referral or obligation on this case",
        )

    def answering(who: Principal, body: Answer, roles: frozenset[Role], action: str) -> str:
        gate.require_role(who, roles, action=action)
        if body.agency_id is not None and body.agency_id != who.agency_id:
            reason = "agency_id names another agency than the token's"
            raise gate.refuse(who, action=action, case_id=None, reason=reason)
        return who.agency_id

    def addressed(
        who: Principal, action: str, referral_id: str | None, call: Callable[[], Any]
    ) -> Callable[[], Any]:
        # "Not the addressee" is a refusal like any other: on record, with the case if known.
        def run() -> Any:
            try:
                return call()
            except domain.NotAddressee as error:
                found = (
                    views.referral(deps.engine, referral_id=referral_id) if referral_id else None
                )
                case_id = found["case_id"] if found else None
                gate.refuse(who, action=action, case_id=case_id, reason=str(error))
                raise

        return run

    async def checked(call: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(call)
        except Refused as refused:
            raise forbidden(refused) from None

    def wake_relay_now() -> None:
        # What the handler staged goes out now, not at the relay's next poll.
        if wake_relay is not None:
            wake_relay()

    @routes.get("/v1/cases/{case_id}/referrals")
    async def case_referrals(case_id: PathId, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.referrals.read"))
        rows = await run_in_threadpool(views.case_referrals, deps.engine, case_id=case_id)
        return {"case_id": case_id, "referrals": rows}

    @routes.get("/v1/cases/{case_id}/routing-obligations")
    async def case_obligations(case_id: PathId, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.obligations.read"))
        rows = await run_in_threadpool(views.case_obligations, deps.engine, case_id=case_id)
        return {"case_id": case_id, "obligations": rows}

    @routes.get("/v1/agencies/{agency_id}/inbox")
    async def agency_inbox(agency_id: PathId, who: Caller) -> dict[str, Any]:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "an agency reads only its own inbox"
        await checked(
            lambda: gate.require(who, own, action="inbox.read", case_id=None, reason=reason)
        )
        rows = await run_in_threadpool(views.inbox, deps.engine, agency_id=agency_id)
        return {"agency_id": agency_id, "referrals": rows}

    @routes.get("/v1/referrals/{referral_id}")
    async def referral(referral_id: PathId, who: Caller) -> dict[str, Any]:
        found = await run_in_threadpool(views.referral, deps.engine, referral_id=referral_id)
        if found is None:
            raise _error(404, "not found: referral")
        await checked(lambda: gated_case(who, found["case_id"], "referral.read"))
        return found

    @routes.post("/v1/referrals/{referral_id}/acknowledge")
    async def acknowledge(referral_id: PathId, body: Answer, who: Caller) -> dict[str, Any]:
        agency_id = await checked(lambda: answering(who, body, DRAFT, "referral.acknowledge"))
        done = await run_in_threadpool(
            _refusals_as_http,
            addressed(
                who,
                "referral.acknowledge",
                referral_id,
                lambda: handlers.acknowledge_referral(referral_id, agency_id, deps=deps),
            ),
        )
        wake_relay_now()
        return referral_view(done)

    @routes.post("/v1/referrals/{referral_id}/decline")
    async def decline(referral_id: PathId, body: DeclineIn, who: Caller) -> dict[str, Any]:
        # Refusing a case is a decision: the head's, not a caseworker's draft.
        agency_id = await checked(lambda: answering(who, body, APPROVE, "referral.decline"))
        done = await run_in_threadpool(
            _refusals_as_http,
            addressed(
                who,
                "referral.decline",
                referral_id,
                lambda: handlers.decline_referral(referral_id, agency_id, body.reason, deps=deps),
            ),
        )
        wake_relay_now()
        return {
            "declined": referral_view(done.declined),
            "replacement": referral_view(done.replacement),
        }

    @routes.post("/v1/obligations/{obligation_id}/refer", status_code=201)
    async def refer(obligation_id: PathId, body: ReferIn, who: Caller) -> dict[str, Any]:
        agency_id = await checked(lambda: answering(who, body, DRAFT, "obligation.refer"))
        done = await run_in_threadpool(
            _refusals_as_http,
            addressed(
                who,
                "obligation.refer",
                None,
                lambda: handlers.refer(obligation_id, agency_id, deps=deps, consent=body.consent),
            ),
        )
        wake_relay_now()
        return referral_view(done)

    @routes.get("/v1/agencies")
    async def list_agencies(
        who: Caller,
        region: RegionQuery = None,
        agency_type: AgencyType | None = Query(default=None, alias="type"),  # noqa: B008
        active: bool | None = None,
    ) -> dict[str, Any]:
        kind = agency_type.value if agency_type is not None else None
        rows = await run_in_threadpool(
            views.agencies, deps.engine, region=region, agency_type=kind, active=active
        )
        return {"agencies": rows}

    @routes.get("/v1/agencies/{agency_id}")
    async def get_agency(agency_id: PathId, who: Caller) -> dict[str, Any]:
        found = await run_in_threadpool(views.agency, deps.engine, agency_id=agency_id)
        if found is None:
            raise _error(404, "not found: agency")
        return found

    @routes.post("/v1/agencies", status_code=201)
    async def create_agency(body: AgencyIn, who: Caller) -> JSONResponse:
        # The directory decides where cases go: only an operator changes it.
        await checked(lambda: gate.require_role(who, {Role.OPERATOR}, action="agency.create"))
        row = await run_in_threadpool(
            _refusals_as_http, lambda: handlers.register_agency(body, deps=deps)
        )
        wake_relay_now()
        return JSONResponse(agency_view(row), status_code=201)

    @routes.put("/v1/agencies/{agency_id}")
    async def change_agency(agency_id: PathId, body: AgencyChange, who: Caller) -> dict[str, Any]:
        await checked(lambda: gate.require_role(who, {Role.OPERATOR}, action="agency.change"))
        row = await run_in_threadpool(
            _refusals_as_http, lambda: handlers.change_agency(agency_id, body, deps=deps)
        )
        wake_relay_now()
        return agency_view(row)

    return routes
