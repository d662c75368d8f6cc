"""Mobile groups and emergency response (F7), shelter referral (F8), stays (F9, F10), figures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.familycentre import domain, handlers, repository, views
from services.familycentre.api.appeals import PersonIn
from services.familycentre.api.common import AgencyId, Caller, Name, actor_of, error, runner
from services.familycentre.handlers import CentreDeps
from shared.access import Gatekeeper
from shared.auth import APPROVE, DRAFT
from shared.http import PathId
from shared.openapi import refusals


class MemberIn(BaseModel):
    """A member of the mobile group: the body they represent (p.21), name and position."""

    model_config = ConfigDict(extra="forbid")

    agency_type: str = Field(min_length=1, max_length=40)
    full_name: Name
    position: Name


class GroupIn(BaseModel):
    """A mobile group approved by the akim's order for one calendar year (p.21)."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2024, le=2100)
    order_ref: Name
    order_date: date
    coordinator_agency_id: AgencyId
    members: list[MemberIn] = Field(max_length=30)


class EngageIn(BaseModel):
    """The mobile group engaged on a direct threat (p.22)."""

    model_config = ConfigDict(extra="forbid")

    group_id: UUID
    engaged_at: AwareDatetime


class ShelterIn(BaseModel):
    """A referral to a shelter for identification (p.24), with the person's consent (p.11)."""

    model_config = ConfigDict(extra="forbid")

    shelter_agency_id: AgencyId
    consent: bool
    referred_at: AwareDatetime


class ChildIn(BaseModel):
    """A minor child admitted with the person (p.26)."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name | None = None
    birth_date: date | None = None
    iin: str | None = Field(default=None, pattern=r"^[0-9]{12}$")


class StayIn(BaseModel):
    """A temporary stay of at most one month (p.23.5, p.25), with the children (p.26)."""

    model_config = ConfigDict(extra="forbid")

    appeal_id: UUID | None = None
    basis: domain.StayBasis
    room: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 ._-]+$")
    admitted_at: AwareDatetime
    until: date
    person: PersonIn
    children: list[ChildIn] = Field(default_factory=list, max_length=15)


class LeaveIn(BaseModel):
    """When the person left the centre."""

    model_config = ConfigDict(extra="forbid")

    left_at: AwareDatetime


class StaffIn(BaseModel):
    """The staff the centre declares, by position of the Appendix, in units."""

    model_config = ConfigDict(extra="forbid")

    declared: dict[str, float] = Field(max_length=30)
    appeals_per_day: float | None = Field(default=None, ge=0)


def routes_of_support(
    deps: CentreDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build the routes of mobile groups, shelter referrals, stays and figures."""
    routes = APIRouter(responses=refusals(403, 404, 409))
    act = runner(gate, wake_relay)

    @routes.post("/v1/mobile-groups", status_code=201)
    async def register(body: GroupIn, who: Caller) -> dict[str, Any]:
        term = domain.GroupTerm(body.year, body.order_ref, body.order_date)
        members = [m.model_dump() for m in body.members]
        row = await act(
            who,
            APPROVE,
            "group.register",
            lambda: handlers.register_group(
                term,
                coordinator_agency_id=body.coordinator_agency_id,
                members=members,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return views.group(deps.cipher, row, personal=False)

    @routes.post("/v1/appeals/{appeal_id}/mobile-group")
    async def engage(appeal_id: PathId, body: EngageIn, who: Caller) -> dict[str, Any]:
        appeal, plan_id = await act(
            who,
            DRAFT,
            "group.engage",
            lambda: handlers.engage_group(
                appeal_id,
                group_id=str(body.group_id),
                engaged_at=body.engaged_at,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return {
            "appeal_id": appeal.appeal_id,
            "group_id": appeal.group_id,
            "emergency_plan_id": plan_id,
            "legal_basis": domain.F7.legal_basis,
        }

    @routes.post("/v1/appeals/{appeal_id}/shelter-referral")
    async def shelter(appeal_id: PathId, body: ShelterIn, who: Caller) -> dict[str, Any]:
        appeal = await act(
            who,
            DRAFT,
            "appeal.shelter_referral",
            lambda: handlers.refer_to_shelter(
                appeal_id,
                shelter_agency_id=body.shelter_agency_id,
                consent=body.consent,
                referred_at=body.referred_at,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return {
            "appeal_id": appeal.appeal_id,
            "shelter_agency_id": appeal.shelter_agency_id,
            "legal_basis": domain.F8.legal_basis,
        }

    @routes.post("/v1/stays", status_code=201)
    async def admit(body: StayIn, who: Caller) -> dict[str, Any]:
        draft = handlers.StayDraft(
            basis=body.basis,
            room=body.room,
            admitted_at=body.admitted_at,
            until=body.until,
            person=body.person.model_dump(mode="json", exclude_none=True),
            children=[c.model_dump(mode="json", exclude_none=True) for c in body.children],
            appeal_id=str(body.appeal_id) if body.appeal_id else None,
        )
        row = await act(
            who, DRAFT, "stay.admit", lambda: handlers.admit(draft, actor=actor_of(who), deps=deps)
        )
        return views.stay(deps.cipher, row, personal=False)

    @routes.post("/v1/stays/{stay_id}/leave")
    async def leave(stay_id: PathId, body: LeaveIn, who: Caller) -> dict[str, Any]:
        row = await act(
            who,
            DRAFT,
            "stay.leave",
            lambda: handlers.end_stay(
                stay_id, left_at=body.left_at, actor=actor_of(who), deps=deps
            ),
        )
        return views.stay(deps.cipher, row, personal=False)

    @routes.get("/v1/stays")
    async def stays(who: Caller) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with Session(deps.engine) as session:
                rows = repository.stays_of_centre(session, agency_id=who.agency_id)
                return {"stays": [views.stay(deps.cipher, row, personal=False) for row in rows]}

        return await run_in_threadpool(read)

    @routes.get("/v1/stays/{stay_id}")
    async def read_stay(stay_id: PathId, who: Caller) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with Session(deps.engine) as session:
                row = repository.get_stay(session, stay_id=stay_id)
                if row is None or row.centre_agency_id != who.agency_id:
                    raise error(404, f"not found: stay {stay_id}")
                gate.record_read(
                    who,
                    action="stay.read",
                    case_id=row.case_id,
                    fields=("stay.people",),
                    purpose="family_support",
                )
                return views.stay(deps.cipher, row, personal=True)

        return await run_in_threadpool(read)

    @routes.get("/v1/figures")
    async def figures(who: Caller) -> dict[str, Any]:
        return await run_in_threadpool(
            views.figures, deps.engine, agency_id=who.agency_id, day=deps.clock.now()
        )

    @routes.post("/v1/figures/staff")
    async def staff(body: StaffIn, who: Caller) -> dict[str, Any]:
        rate = body.appeals_per_day
        if rate is None:
            rate = (
                await run_in_threadpool(
                    views.figures, deps.engine, agency_id=who.agency_id, day=deps.clock.now()
                )
            )["appeals_per_day_30d"]
        unknown = sorted(set(body.declared) - set(domain.STAFF_MINIMUM))
        if unknown:
            raise error(422, "is not a position of the Appendix", f"declared.{unknown[0]}")
        return {
            "appeals_per_day": rate,
            "legal_basis": f"{domain.ACT}, p.4, Appendix",
            "gaps": domain.staff_gaps(rate, body.declared),
        }

    return routes
