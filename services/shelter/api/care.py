"""Routes of the work under the contract: the card and its portal entry (S11), the needs
assessment (S13), the work plan (S14) and its monitoring (S15), suspension and extension."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.shelter import handlers
from services.shelter.api.common import Act, Caller, actor_of
from services.shelter.api.models import (
    ApprovalBody,
    CardBody,
    ExtensionBody,
    MonitoringBody,
    NeedsBody,
    PlanBody,
    PortalBody,
    ResumptionBody,
    ReturnAtOnceBody,
    SuspensionBody,
)
from services.shelter.handlers import ShelterDeps
from shared.http import PathId
from shared.openapi import refusals
from shared.plans import MonitoringEntry, PlanLine


def routes_of_care(deps: ShelterDeps, *, act: Act) -> APIRouter:
    """Build the routes of the work under the contract."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    @routes.post("/v1/stays/{stay_id}/registration-card")
    async def card(stay_id: PathId, body: CardBody, who: Caller) -> dict[str, Any]:
        data = body.model_dump(mode="json", exclude_none=True, exclude={"filled_at"})
        return await act(
            who,
            "stay.registration_card",
            lambda: handlers.fill_card(stay_id, data, body.filled_at, actor_of(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/portal-entry")
    async def portal(stay_id: PathId, body: PortalBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.portal_entry",
            lambda: handlers.confirm_portal(
                stay_id, body.entered_at, body.reference, actor_of(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/needs-assessment")
    async def needs(stay_id: PathId, body: NeedsBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.needs_assessment",
            lambda: handlers.assess_needs(
                stay_id, body.needs, body.assessed_at, actor_of(who), deps=deps
            ),
        )

    @routes.put("/v1/stays/{stay_id}/plan")
    async def plan(stay_id: PathId, body: PlanBody, who: Caller) -> dict[str, Any]:
        draft = handlers.PlanIn(
            period_start=body.period_start,
            period_end=body.period_end,
            assessed_from=body.assessed_from,
            assessed_to=body.assessed_to,
            lines=[
                PlanLine(
                    line.line_id,
                    line.kind,
                    line.activity,
                    line.assigned_on,
                    line.due_on,
                    responsible=line.responsible,
                    assigned_by=line.assigned_by,
                )
                for line in body.lines
            ],
        )
        return await act(
            who,
            "stay.plan",
            lambda: handlers.save_plan(stay_id, draft, actor_of(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/plan/approve")
    async def approve(stay_id: PathId, body: ApprovalBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.plan_approve",
            lambda: handlers.approve_plan(stay_id, body.approved_at, actor_of(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/plan/monitoring")
    async def monitoring(stay_id: PathId, body: MonitoringBody, who: Caller) -> dict[str, Any]:
        entry = MonitoringEntry(
            observed_on=body.observed_on,
            by=who.subject,
            state=body.state,
            note=body.note or "",
            corrections=tuple(body.corrections),
        )
        return await act(
            who,
            "stay.monitoring",
            lambda: handlers.monitor(stay_id, entry, actor_of(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/suspension")
    async def suspension(stay_id: PathId, body: SuspensionBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.suspension",
            lambda: handlers.suspend(
                stay_id, body.suspended_at, body.inpatient, actor_of(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/resumption")
    async def resumption(stay_id: PathId, body: ResumptionBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.resumption",
            lambda: handlers.resume(stay_id, body.resumed_at, actor_of(who), deps=deps),
        )

    @routes.post("/v1/stays/{stay_id}/contract/extension")
    async def extension(stay_id: PathId, body: ExtensionBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.extension",
            lambda: handlers.extend(
                stay_id, body.months, body.extended_at, actor_of(who), deps=deps
            ),
        )

    @routes.post("/v1/stays/{stay_id}/return")
    async def back(stay_id: PathId, body: ReturnAtOnceBody, who: Caller) -> dict[str, Any]:
        return await act(
            who,
            "stay.return",
            lambda: handlers.readmit_at_once(
                stay_id, body.reason, body.returned_at, actor_of(who), deps=deps
            ),
        )

    return routes
