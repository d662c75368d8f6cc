"""Routing's HTTP routes: they call handlers or read models, never build queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.routing import domain, handlers, repository
from services.routing.handlers import AgencyChange, AgencyIn, RoutingDeps
from services.routing.tables import AgencyRow, Referral, RoutingObligation
from shared.access import Gatekeeper, forbidden
from shared.agencies import AgencyType
from shared.auth import APPROVE, DRAFT, Principal, Refused, Role, principal
from shared.contracts.routing import DeclineReason
from shared.db import unit_of_work

AGENCY_ID = Field(default=None, min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")


class Answer(BaseModel):
    """An agency's answer to a referral; the agency is the token's (a body agency_id must match)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str | None = AGENCY_ID


class DeclineIn(Answer):
    """A decline, with a reason code (free text could carry personal data)."""

    reason: DeclineReason


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _referral(r: Referral) -> dict[str, Any]:
    return {
        "referral_id": r.referral_id,
        "case_id": r.case_id,
        "report_id": r.report_id,
        "code": r.code,
        "legal_basis": r.legal_basis,
        "purpose": r.purpose,
        "from_agency_type": r.from_agency_type,
        "from_agency_id": r.from_agency_id,
        "to_agency_type": r.to_agency_type,
        "to_agency_id": r.to_agency_id,
        "acting_for": r.role if r.role and r.role != r.to_agency_type else None,
        "region": r.region,
        "status": r.status,
        "issued_at": r.issued_at.isoformat(),
        "ack_due_at": _iso(r.ack_due_at),
        "answered_at": _iso(r.answered_at),
        "answered_via": r.answered_via,
        "decline_reason": r.decline_reason,
        "unacknowledged_at": _iso(r.unacknowledged_at),
        "obligation_id": r.obligation_id,
        "replaces_referral_id": r.replaces_referral_id,
        "escalation_obligation_id": r.escalation_obligation_id,
    }


def _obligation(o: RoutingObligation) -> dict[str, Any]:
    return {
        "obligation_id": o.obligation_id,
        "case_id": o.case_id,
        "code": o.code,
        "legal_basis": o.legal_basis,
        "kind": o.kind,
        "actor_agency_type": o.actor_agency_type,
        "actor_agency_id": o.actor_agency_id,
        "target_agency_type": o.target_agency_type,
        "target_agency_id": o.target_agency_id,
        "term": o.term,
        "started_at": o.started_at.isoformat(),
        "status": o.status,
        "met_at": _iso(o.met_at),
        "met_by_platform": o.met_by_platform,
        "met_by_agency_id": o.met_by_agency_id,
        "via_referral_id": o.via_referral_id,
    }


def _agency(a: AgencyRow) -> dict[str, Any]:
    return {
        "agency_id": a.agency_id,
        "agency_type": a.agency_type,
        "region": a.region,
        "district": a.district,
        "name_kk": a.name_kk,
        "name_ru": a.name_ru,
        "name_en": a.name_en,
        "active": a.active,
    }


def _error(status: int, message: str, field: str | None = None) -> HTTPException:
    detail: Any = message if field is None else [{"field": field, "message": message}]
    return HTTPException(status_code=status, detail=detail)


def _answered(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the domain's refusals into HTTP answers."""
    try:
        return call()
    except (handlers.UnknownReferral, handlers.UnknownAgency, handlers.UnknownObligation) as e:
        raise _error(404, f"not found: {e}") from None
    except domain.NotAddressee as error:
        raise _error(403, str(error)) from None
    except domain.DirectoryInvalid as error:
        raise _error(422, str(error), error.field) from None
    except domain.RoutingError as error:
        # An illegal step (answered twice, nobody left, one national body per country).
        raise _error(409, str(error)) from None


Caller = Annotated[Principal, Depends(principal)]


def router(
    deps: RoutingDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build routing's routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter()

    def related(who: Principal, case_id: str) -> bool:
        if who.role is Role.OPERATOR:
            return True
        with unit_of_work(deps.engine) as session:
            return repository.agency_relates_to_case(
                session, case_id=case_id, agency_id=who.agency_id
            )

    def gated_case(who: Principal, case_id: str, action: str) -> None:
        # An agency sees a case only if it sent or received it or holds a duty on it.
        allowed = related(who, case_id)
        reason = "the agency has no referral or obligation on this case"
        gate.require(who, allowed, action=action, case_id=case_id, reason=reason)

    def answering(who: Principal, body: Answer, roles: frozenset[Role], action: str) -> str:
        gate.require_role(who, roles, action=action)
        if body.agency_id is not None and body.agency_id != who.agency_id:
            reason = "agency_id names another agency than the token's"
            raise gate.refuse(who, action=action, case_id=None, reason=reason)
        return who.agency_id

    async def checked(call: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(call)
        except Refused as refused:
            raise forbidden(refused) from None

    def woken() -> None:
        if wake_relay is not None:
            wake_relay()

    def _case(case_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            return [_referral(r) for r in repository.referrals_of_case(session, case_id=case_id)]

    def _case_obligations(case_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            rows = repository.obligations_of_case(session, case_id=case_id)
            return [_obligation(o) for o in rows]

    def _inbox(agency_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            rows = repository.open_referrals_of_agency(session, agency_id=agency_id)
            return [_referral(r) for r in rows]

    def _referral_of(referral_id: str) -> dict[str, Any] | None:
        with unit_of_work(deps.engine) as session:
            found = repository.get_referral(session, referral_id=referral_id)
            return _referral(found) if found is not None else None

    def _agencies(
        region: str | None, agency_type: str | None, active: bool | None
    ) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            rows = repository.agencies(
                session, region=region, agency_type=agency_type, active=active
            )
            return [_agency(a) for a in rows]

    def _agency_of(agency_id: str) -> dict[str, Any] | None:
        with unit_of_work(deps.engine) as session:
            found = repository.get_agency(session, agency_id=agency_id)
            return _agency(found) if found is not None else None

    @routes.get("/v1/cases/{case_id}/referrals")
    async def case_referrals(case_id: str, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.referrals.read"))
        return {"case_id": case_id, "referrals": await run_in_threadpool(_case, case_id)}

    @routes.get("/v1/cases/{case_id}/routing-obligations")
    async def case_obligations(case_id: str, who: Caller) -> dict[str, Any]:
        await checked(lambda: gated_case(who, case_id, "case.obligations.read"))
        rows = await run_in_threadpool(_case_obligations, case_id)
        return {"case_id": case_id, "obligations": rows}

    @routes.get("/v1/agencies/{agency_id}/inbox")
    async def agency_inbox(agency_id: str, who: Caller) -> dict[str, Any]:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "an agency reads only its own inbox"
        await checked(
            lambda: gate.require(who, own, action="inbox.read", case_id=None, reason=reason)
        )
        return {"agency_id": agency_id, "referrals": await run_in_threadpool(_inbox, agency_id)}

    @routes.get("/v1/referrals/{referral_id}")
    async def referral(referral_id: str, who: Caller) -> dict[str, Any]:
        found = await run_in_threadpool(_referral_of, referral_id)
        if found is None:
            raise _error(404, "not found: referral")
        await checked(lambda: gated_case(who, found["case_id"], "referral.read"))
        return found

    @routes.post("/v1/referrals/{referral_id}/acknowledge")
    async def acknowledge(referral_id: str, body: Answer, who: Caller) -> dict[str, Any]:
        agency_id = await checked(lambda: answering(who, body, DRAFT, "referral.acknowledge"))
        done = await run_in_threadpool(
            _answered,
            lambda: handlers.acknowledge_referral(referral_id, agency_id, deps=deps),
        )
        woken()
        return _referral(done)

    @routes.post("/v1/referrals/{referral_id}/decline")
    async def decline(referral_id: str, body: DeclineIn, who: Caller) -> dict[str, Any]:
        # Refusing a case is a decision: the head's, not a caseworker's draft.
        agency_id = await checked(lambda: answering(who, body, APPROVE, "referral.decline"))
        done = await run_in_threadpool(
            _answered,
            lambda: handlers.decline_referral(referral_id, agency_id, body.reason, deps=deps),
        )
        woken()
        return {"declined": _referral(done.declined), "replacement": _referral(done.replacement)}

    @routes.post("/v1/obligations/{obligation_id}/refer", status_code=201)
    async def refer(obligation_id: str, body: Answer, who: Caller) -> dict[str, Any]:
        agency_id = await checked(lambda: answering(who, body, DRAFT, "obligation.refer"))
        done = await run_in_threadpool(
            _answered, lambda: handlers.refer(obligation_id, agency_id, deps=deps)
        )
        woken()
        return _referral(done)

    @routes.get("/v1/agencies")
    async def list_agencies(
        who: Caller,
        region: str | None = None,
        agency_type: AgencyType | None = Query(default=None, alias="type"),  # noqa: B008
        active: bool | None = None,
    ) -> dict[str, Any]:
        kind = agency_type.value if agency_type is not None else None
        rows = await run_in_threadpool(_agencies, region, kind, active)
        return {"agencies": rows}

    @routes.get("/v1/agencies/{agency_id}")
    async def get_agency(agency_id: str, who: Caller) -> dict[str, Any]:
        found = await run_in_threadpool(_agency_of, agency_id)
        if found is None:
            raise _error(404, "not found: agency")
        return found

    @routes.post("/v1/agencies", status_code=201)
    async def create_agency(body: AgencyIn, who: Caller) -> JSONResponse:
        # The directory decides where cases go: only an operator changes it.
        await checked(lambda: gate.require_role(who, {Role.OPERATOR}, action="agency.create"))
        row = await run_in_threadpool(_answered, lambda: handlers.register_agency(body, deps=deps))
        woken()
        return JSONResponse(_agency(row), status_code=201)

    @routes.put("/v1/agencies/{agency_id}")
    async def change_agency(agency_id: str, body: AgencyChange, who: Caller) -> dict[str, Any]:
        await checked(lambda: gate.require_role(who, {Role.OPERATOR}, action="agency.change"))
        row = await run_in_threadpool(
            _answered, lambda: handlers.change_agency(agency_id, body, deps=deps)
        )
        woken()
        return _agency(row)

    return routes
