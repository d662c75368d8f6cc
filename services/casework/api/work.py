"""Work on obligations and cases: actions with proof, approvals, caseload, manager, closing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.casework import domain, handlers, views
from services.casework.api.common import (
    AgencyId,
    ApprovalIn,
    Caller,
    Note,
    PersonId,
    actor_of,
    checked,
    error,
    on_record,
    refusals_as_http,
)
from services.casework.handlers import CaseworkDeps, Work
from shared.access import Gatekeeper
from shared.auth import APPROVE, DRAFT, Principal, Role
from shared.contracts.casework import ActionOutcome
from shared.crypto import FieldCipher
from shared.http import PathId
from shared.openapi import refusals

DocumentValue = Annotated[str, Field(min_length=1, max_length=60)]
EvidenceKey = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]


class ActionIn(BaseModel):
    """Work an agency did on its obligation: when, what came of it, what, and the proof."""

    model_config = ConfigDict(extra="forbid")

    agency_id: AgencyId | None = None
    done_at: AwareDatetime
    outcome: ActionOutcome = ActionOutcome.DONE
    summary: Note | None = None
    evidence: dict[EvidenceKey, DocumentValue] = Field(default_factory=dict, max_length=10)


class ManagerIn(BaseModel):
    """The case manager to assign: a person id of the body, never a name."""

    model_config = ConfigDict(extra="forbid")

    person_id: PersonId


class CloseIn(BaseModel):
    """Closing a case: the grounds (Guide p.8.10) and, optionally, what the head wrote."""

    model_config = ConfigDict(extra="forbid")

    grounds: domain.CloseGrounds
    note: Note | None = None


def routes_of_work(
    deps: CaseworkDeps,
    *,
    gate: Gatekeeper,
    cipher: FieldCipher,
    wake_relay: Callable[[], None] | None = None,
) -> APIRouter:
    """Build the routes of work on obligations and cases."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    def wake_relay_now() -> None:
        if wake_relay is not None:
            wake_relay()

    def acting(
        who: Principal, roles: frozenset[Role], action: str, agency_id: str | None = None
    ) -> None:
        gate.require_role(who, roles, action=action)
        if agency_id is not None and agency_id != who.agency_id:
            reason = "agency_id names another agency than the token's"
            raise gate.refuse(who, action=action, case_id=None, reason=reason)

    @routes.post("/v1/obligations/{obligation_id}/actions", status_code=201)
    async def record(obligation_id: PathId, body: ActionIn, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, DRAFT, "obligation.action", body.agency_id))
        work = Work(body.done_at, body.outcome, body.summary, body.evidence)
        done = await run_in_threadpool(
            refusals_as_http,
            on_record(
                gate,
                who,
                "obligation.action",
                lambda: handlers.record_action(obligation_id, work, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return views.action_view(done)

    @routes.post("/v1/actions/{action_id}/approve")
    async def approve(action_id: PathId, body: ApprovalIn, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, APPROVE, "action.approve", body.agency_id))
        done = await run_in_threadpool(
            refusals_as_http,
            on_record(
                gate,
                who,
                "action.approve",
                lambda: handlers.approve_action(action_id, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return views.action_view(done)

    @routes.get("/v1/obligations/{obligation_id}")
    async def read_obligation(obligation_id: PathId, who: Caller) -> dict[str, Any]:
        bare = await run_in_threadpool(
            views.obligation, deps.engine, obligation_id=obligation_id, cipher=None
        )
        if bare is None:
            raise error(404, "not found: obligation")
        own = who.agency_id in (bare["actor_agency_id"], bare["body_agency_id"])
        if who.role is Role.OPERATOR and not own:
            # Operators watch the work, not what was written about the child.
            return bare

        def read() -> dict[str, Any] | None:
            gate.require(
                who,
                own,
                action="obligation.read",
                case_id=bare["case_id"],
                reason="only the acting agency and the body holding the case read its actions",
            )
            gate.record_read(
                who,
                action="obligation.read",
                case_id=bare["case_id"],
                fields=views.ACTION_FIELDS,
                purpose="casework",
            )
            return views.obligation(deps.engine, obligation_id=obligation_id, cipher=cipher)

        return await checked(read)  # type: ignore[no-any-return]

    @routes.get("/v1/agencies/{agency_id}/obligations")
    async def agency_obligations(
        agency_id: PathId,
        who: Caller,
        status: Annotated[domain.ObligationStatus | None, Query()] = None,
    ) -> dict[str, Any]:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "an agency reads only its own obligations"
        await checked(
            lambda: gate.require(who, own, action="obligations.read", case_id=None, reason=reason)
        )
        rows = await run_in_threadpool(
            views.agency_obligations,
            deps.engine,
            agency_id=agency_id,
            status=status.value if status else None,
        )
        return {"agency_id": agency_id, "obligations": rows}

    @routes.get("/v1/agencies/{agency_id}/caseload")
    async def caseload(
        agency_id: PathId,
        who: Caller,
        status: Annotated[domain.CaseStatus | None, Query()] = None,
    ) -> dict[str, Any]:
        own = who.agency_id == agency_id or who.role is Role.OPERATOR
        reason = "a body reads only its own caseload"
        await checked(
            lambda: gate.require(who, own, action="caseload.read", case_id=None, reason=reason)
        )
        rows = await run_in_threadpool(
            views.caseload,
            deps.engine,
            agency_id=agency_id,
            status=status.value if status else None,
        )
        return {"agency_id": agency_id, "cases": rows}

    @routes.get("/v1/cases/{case_id}")
    async def read_case(case_id: PathId, who: Caller) -> dict[str, Any]:
        shown = await checked(
            lambda: gate.require_case(
                who,
                lambda: views.case_standing(deps.engine, case_id=case_id, agency_id=who.agency_id),
                action="case.read",
                case_id=case_id,
                reason="the agency neither holds this case nor owes anything on it",
            )
        )
        scope = None if who.role is Role.OPERATOR else who.agency_id
        found = (
            await run_in_threadpool(views.case, deps.engine, case_id=case_id, agency_id=scope)
            if shown
            else None
        )
        if found is None:
            raise error(404, "not found: case")
        return found

    @routes.post("/v1/cases/{case_id}/manager", status_code=201)
    async def assign(case_id: PathId, body: ManagerIn, who: Caller) -> dict[str, Any]:
        # Assigning the case manager is the head's order (Rules 38874 p.12.2).
        await checked(lambda: acting(who, APPROVE, "case.manager"))
        done = await run_in_threadpool(
            refusals_as_http,
            on_record(
                gate,
                who,
                "case.manager",
                lambda: handlers.assign_manager(case_id, body.person_id, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return {"case_id": case_id, **views.assignment_view(done)}

    @routes.post("/v1/cases/{case_id}/close")
    async def close(case_id: PathId, body: CloseIn, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, APPROVE, "case.close"))
        closed, cancelled = await run_in_threadpool(
            refusals_as_http,
            on_record(
                gate,
                who,
                "case.close",
                lambda: handlers.close_case(
                    case_id, body.grounds, body.note, actor_of(who), deps=deps
                ),
            ),
        )
        wake_relay_now()
        return {**views.case_summary(closed), "cancelled_obligations": cancelled}

    return routes
