"""The individual work plan (F5, F6) and the emergency response plan (F7) over HTTP.

A centre employee drafts, the employee and the person sign, the head approves (p.17); a
revision is a new version, the history stays; the plan ends on a ground of p.19. An
organisation responsible for lines reads and reports its own lines only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.familycentre import handlers, views
from services.familycentre.api.common import (
    AgencyId,
    Caller,
    Name,
    Note,
    actor_of,
    refusals_as_http,
    runner,
)
from services.familycentre.handlers import CentreDeps
from shared.access import Gatekeeper
from shared.auth import APPROVE, DRAFT
from shared.http import PathId
from shared.openapi import refusals
from shared.plans import LineStatus, Plan, PlanLine

Specialist = Literal[
    "lawyer", "psychologist", "social_pedagogue", "medic", "social_worker", "local_police", "ngo"
]


class PlanIn(BaseModel):
    """A new individual work plan: its period (at most a year, p.15) and specialists."""

    model_config = ConfigDict(extra="forbid")

    plan_id: UUID | None = None
    period_start: date
    period_end: date
    specialists: list[Specialist] = Field(default_factory=list, max_length=7)


class PeriodIn(BaseModel):
    """A change of the draft's period or specialists."""

    model_config = ConfigDict(extra="forbid")

    period_start: date | None = None
    period_end: date | None = None
    specialists: list[Specialist] | None = Field(default=None, max_length=7)


class LineIn(BaseModel):
    """A line: by type of state support with the body responsible, or the person's own step."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["state_support", "own_steps", "support_measure"]
    activity: Note
    assigned_on: date
    due_on: date
    responsible: AgencyId | None = None


class SignIn(BaseModel):
    """A signature: the centre's employee (a person id) or the person (a name), on a day."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["employee", "person"]
    signer: Name
    signed_on: date


class ApproveIn(BaseModel):
    """The head's approval (p.17): nothing to add but the head's token; a body so that every
    step is a JSON document."""

    model_config = ConfigDict(extra="forbid")


class ReasonIn(BaseModel):
    """Why the plan is revised (p.17)."""

    model_config = ConfigDict(extra="forbid")

    reason: Note


class OutcomeIn(BaseModel):
    """A line reported done (with its day) or not done (with why)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["done", "not_done"]
    done_on: date | None = None
    result: Note | None = None


class EndIn(BaseModel):
    """The ground of p.19 on which the plan ends, and what confirms 'other_confirmed'."""

    model_config = ConfigDict(extra="forbid")

    ground: str = Field(min_length=1, max_length=40)
    ended_on: date
    note: Note | None = None


def routes_of_plans(
    deps: CentreDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build the plans' routes."""
    routes = APIRouter(responses=refusals(403, 404, 409))
    act = runner(gate, wake_relay)

    def answer(found: tuple[Any, Plan]) -> dict[str, Any]:
        row, plan = found
        return views.plan(row, plan)

    @routes.post("/v1/appeals/{appeal_id}/plans", status_code=201)
    async def create(appeal_id: PathId, body: PlanIn, who: Caller) -> dict[str, Any]:
        plan_id = str(body.plan_id or uuid4())
        return answer(
            await act(
                who,
                DRAFT,
                "plan.create",
                lambda: handlers.create_plan(
                    appeal_id,
                    plan_id=plan_id,
                    period_start=body.period_start,
                    period_end=body.period_end,
                    specialists=tuple(body.specialists),
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.patch("/v1/plans/{plan_id}")
    async def edit(plan_id: PathId, body: PeriodIn, who: Caller) -> dict[str, Any]:
        changes = body.model_dump(exclude_none=True)
        return answer(
            await act(
                who,
                DRAFT,
                "plan.edit",
                lambda: handlers.change_plan(
                    plan_id,
                    lambda plan, _agencies: plan.edit(**changes),
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.put("/v1/plans/{plan_id}/lines/{line_id}")
    async def put_line(
        plan_id: PathId, line_id: PathId, body: LineIn, who: Caller
    ) -> dict[str, Any]:
        line = PlanLine(
            line_id,
            body.kind,
            body.activity,
            body.assigned_on,
            body.due_on,
            responsible=body.responsible,
        )
        return answer(
            await act(
                who,
                DRAFT,
                "plan.line",
                lambda: handlers.put_line(plan_id, line, actor=actor_of(who), deps=deps),
            )
        )

    @routes.delete("/v1/plans/{plan_id}/lines/{line_id}")
    async def remove_line(plan_id: PathId, line_id: PathId, who: Caller) -> dict[str, Any]:
        return answer(
            await act(
                who,
                DRAFT,
                "plan.line_remove",
                lambda: handlers.change_plan(
                    plan_id,
                    lambda plan, _agencies: plan.remove_line(line_id),
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.post("/v1/plans/{plan_id}/signoffs")
    async def sign(plan_id: PathId, body: SignIn, who: Caller) -> dict[str, Any]:
        return answer(
            await act(
                who,
                DRAFT,
                "plan.sign",
                lambda: handlers.change_plan(
                    plan_id,
                    lambda plan, _agencies: plan.sign(body.role, body.signer, body.signed_on),
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.post("/v1/plans/{plan_id}/approve")
    async def approve(plan_id: PathId, body: ApproveIn, who: Caller) -> dict[str, Any]:
        return answer(
            await act(
                who,
                APPROVE,
                "plan.approve",
                lambda: handlers.approve_plan(plan_id, actor=actor_of(who), deps=deps),
            )
        )

    @routes.post("/v1/plans/{plan_id}/revisions", status_code=201)
    async def revise(plan_id: PathId, body: ReasonIn, who: Caller) -> dict[str, Any]:
        return answer(
            await act(
                who,
                DRAFT,
                "plan.revise",
                lambda: handlers.revise_plan(
                    plan_id, reason=body.reason, actor=actor_of(who), deps=deps
                ),
            )
        )

    @routes.post("/v1/plans/{plan_id}/lines/{line_id}/outcome")
    async def outcome(
        plan_id: PathId, line_id: PathId, body: OutcomeIn, who: Caller
    ) -> dict[str, Any]:
        return answer(
            await act(
                who,
                DRAFT,
                "plan.outcome",
                lambda: handlers.record_outcome(
                    plan_id,
                    line_id,
                    status=LineStatus(body.status),
                    done_on=body.done_on,
                    result=body.result,
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.post("/v1/plans/{plan_id}/end")
    async def end(plan_id: PathId, body: EndIn, who: Caller) -> dict[str, Any]:
        return answer(
            await act(
                who,
                DRAFT,
                "plan.end",
                lambda: handlers.end_plan(
                    plan_id,
                    ground=body.ground,
                    ended_on=body.ended_on,
                    note=body.note,
                    actor=actor_of(who),
                    deps=deps,
                ),
            )
        )

    @routes.get("/v1/plans/{plan_id}")
    async def read(plan_id: PathId, who: Caller) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            row, plan = refusals_as_http(
                lambda: handlers.read_plan(plan_id, actor=actor_of(who), deps=deps)
            )
            # Plans name people and what they do: every read is on the audit log.
            gate.record_read(
                who,
                action="plan.read",
                case_id=row.case_id,
                fields=("plan.document",),
                purpose="family_support",
            )
            return views.plan(row, plan)

        return await run_in_threadpool(run)

    return routes
