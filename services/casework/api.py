"""Casework's HTTP routes: they call handlers or read models, never build queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from services.casework import domain, handlers, views
from services.casework.handlers import Actor, CaseworkDeps, LineForAgency, Work
from shared.access import Gatekeeper, forbidden
from shared.auth import APPROVE, DRAFT, Principal, Refused, Role, principal
from shared.contracts.casework import ActionOutcome
from shared.crypto import FieldCipher
from shared.http import PathId
from shared.openapi import refusals

AgencyId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
PersonId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")]
# What a person wrote: any text but control characters (newlines and tabs allowed).
Note = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
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


class HelpKind(StrEnum):
    """The kinds of help of the plan's lines (Rules 38874 Appendix 2)."""

    MEDICAL = "medical"
    PSYCHOLOGICAL = "psychological"
    PEDAGOGICAL = "pedagogical"
    SOCIAL = "social"
    LEGAL = "legal"


class LineIn(BaseModel):
    """A plan line given to an organisation of the directory."""

    model_config = ConfigDict(extra="forbid")

    line_id: UUID
    kind: HelpKind
    responsible_agency_id: AgencyId
    assigned_on: date
    due_date: date

    @model_validator(mode="after")
    def _due_after_assigned(self) -> LineIn:
        if self.due_date < self.assigned_on:
            raise ValueError("due_date is before assigned_on")
        return self


class PlanLinesIn(BaseModel):
    """The lines of an approved plan that go to organisations (Appendix 2)."""

    model_config = ConfigDict(extra="forbid")

    plan_id: UUID
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class CloseIn(BaseModel):
    """Closing a case: the grounds (Guide p.8.10) and, optionally, what the head wrote."""

    model_config = ConfigDict(extra="forbid")

    grounds: domain.CloseGrounds
    note: Note | None = None


def _error(status: int, message: str, field: str | None = None) -> HTTPException:
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


def _refusals_as_http(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the domain's refusals into HTTP answers."""
    try:
        return call()
    except (handlers.UnknownObligation, handlers.UnknownCase, handlers.UnknownAction) as error:
        raise _error(404, f"not found: {error}") from None
    except domain.NotActor as error:
        raise _error(403, str(error)) from None
    except domain.InvalidInput as error:
        raise _error(422, error.message, error.field) from None
    except domain.IllegalTransition as error:
        raise _error(409, str(error)) from None


Caller = Annotated[Principal, Depends(principal)]


def actor_of(who: Principal) -> Actor:
    """Return the person recording work: the token's subject (an id), agency and role."""
    return Actor(
        person_id=who.subject,
        agency_id=who.agency_id,
        agency_type=who.agency_type,
        region=who.region,
        is_head=who.role is Role.HEAD,
    )


def router(
    deps: CaseworkDeps,
    *,
    gate: Gatekeeper,
    cipher: FieldCipher,
    wake_relay: Callable[[], None] | None = None,
) -> APIRouter:
    """Build casework's routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    async def checked(call: Callable[[], Any]) -> Any:
        try:
            return await run_in_threadpool(call)
        except Refused as refused:
            raise forbidden(refused) from None

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

    def on_record(who: Principal, action: str, call: Callable[[], Any]) -> Callable[[], Any]:
        # A refused act (not the actor, not the holder) is on record like any refusal.
        def run() -> Any:
            try:
                return call()
            except domain.NotActor as error:
                gate.refuse(who, action=action, case_id=None, reason=str(error))
                raise

        return run

    @routes.post("/v1/obligations/{obligation_id}/actions", status_code=201)
    async def record(obligation_id: PathId, body: ActionIn, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, DRAFT, "obligation.action", body.agency_id))
        work = Work(body.done_at, body.outcome, body.summary, body.evidence)
        done = await run_in_threadpool(
            _refusals_as_http,
            on_record(
                who,
                "obligation.action",
                lambda: handlers.record_action(obligation_id, work, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return views.action_view(done)

    @routes.post("/v1/actions/{action_id}/approve")
    async def approve(action_id: PathId, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, APPROVE, "action.approve"))
        done = await run_in_threadpool(
            _refusals_as_http,
            on_record(
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
            raise _error(404, "not found: obligation")
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
            raise _error(404, "not found: case")
        return found

    @routes.post("/v1/cases/{case_id}/manager", status_code=201)
    async def assign(case_id: PathId, body: ManagerIn, who: Caller) -> dict[str, Any]:
        # Assigning the case manager is the head's order (Rules 38874 p.12.2).
        await checked(lambda: acting(who, APPROVE, "case.manager"))
        done = await run_in_threadpool(
            _refusals_as_http,
            on_record(
                who,
                "case.manager",
                lambda: handlers.assign_manager(case_id, body.person_id, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return {"case_id": case_id, **views.assignment_view(done)}

    @routes.post("/v1/cases/{case_id}/plan-lines", status_code=201)
    async def plan_lines(case_id: PathId, body: PlanLinesIn, who: Caller) -> dict[str, Any]:
        # The plan is the head's to approve (Appendix 2): its lines go out with the approval.
        await checked(lambda: acting(who, APPROVE, "plan.lines"))
        lines = [
            LineForAgency(
                plan_id=str(body.plan_id),
                line_id=str(line.line_id),
                kind=line.kind.value,
                agency_id=line.responsible_agency_id,
                assigned_on=line.assigned_on,
                due_on=line.due_date,
            )
            for line in body.lines
        ]
        done = await run_in_threadpool(
            _refusals_as_http,
            on_record(
                who,
                "plan.lines",
                lambda: handlers.assign_plan_lines(case_id, lines, actor_of(who), deps=deps),
            ),
        )
        wake_relay_now()
        return {"case_id": case_id, "plan_lines": [views.line_view(each) for each in done]}

    @routes.post("/v1/cases/{case_id}/close")
    async def close(case_id: PathId, body: CloseIn, who: Caller) -> dict[str, Any]:
        await checked(lambda: acting(who, APPROVE, "case.close"))
        closed, cancelled = await run_in_threadpool(
            _refusals_as_http,
            on_record(
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
