"""Deadlines' HTTP routes: the accountability view of a case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.deadlines import repository
from services.deadlines.handlers import DeadlinesDeps
from services.deadlines.tables import Obligation
from shared.clock import ALMATY
from shared.db import unit_of_work


def _time(value: Any) -> str | None:
    # Times answer in Almaty time with their offset (public contract).
    return value.astimezone(ALMATY).isoformat() if value is not None else None


def obligation_view(o: Obligation) -> dict[str, Any]:
    """Render an obligation as the public contract names its fields."""
    return {
        "obligation_id": o.obligation_id,
        "case_id": o.case_id,
        "code": o.code,
        "legal_basis": o.legal_basis,
        "actor_agency_type": o.actor_agency_type,
        "actor_agency_id": o.actor_agency_id,
        "target_agency_type": o.target_agency_type,
        "target_agency_id": o.target_agency_id,
        "term": o.term,
        "started_at": _time(o.started_at),
        "due_at": _time(o.due_at),
        "status": o.status,
        "met_at": _time(o.met_at),
        "met_by_agency_id": o.met_by_agency_id,
        "met_by_platform": o.met_by_platform,
        "on_time": o.on_time,
    }


def router(deps: DeadlinesDeps) -> APIRouter:
    """Build deadlines' routes."""
    routes = APIRouter()

    def _case(case_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            return [obligation_view(o) for o in repository.of_case(session, case_id=case_id)]

    @routes.get("/v1/cases/{case_id}/obligations")
    async def case_obligations(case_id: str) -> dict[str, Any]:
        return {"case_id": case_id, "obligations": await run_in_threadpool(_case, case_id)}

    return routes
