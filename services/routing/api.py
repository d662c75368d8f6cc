"""Routing's HTTP routes: they call handlers or read models, never build queries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.routing import repository
from services.routing.handlers import RoutingDeps
from services.routing.tables import Referral
from shared.db import unit_of_work


def _referral(r: Referral) -> dict[str, Any]:
    return {
        "referral_id": r.referral_id,
        "case_id": r.case_id,
        "report_id": r.report_id,
        "code": r.code,
        "legal_basis": r.legal_basis,
        "from_agency_type": r.from_agency_type,
        "from_agency_id": r.from_agency_id,
        "to_agency_type": r.to_agency_type,
        "to_agency_id": r.to_agency_id,
        "region": r.region,
        "status": r.status,
        "issued_at": r.issued_at.isoformat(),
        "answered_at": r.answered_at.isoformat() if r.answered_at else None,
    }


def router(deps: RoutingDeps) -> APIRouter:
    """Build routing's routes."""
    routes = APIRouter()

    def _case(case_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            return [_referral(r) for r in repository.referrals_of_case(session, case_id=case_id)]

    def _inbox(agency_id: str) -> list[dict[str, Any]]:
        with unit_of_work(deps.engine) as session:
            rows = repository.open_referrals_of_agency(session, agency_id=agency_id)
            return [_referral(r) for r in rows]

    @routes.get("/v1/cases/{case_id}/referrals")
    async def case_referrals(case_id: str) -> dict[str, Any]:
        return {"case_id": case_id, "referrals": await run_in_threadpool(_case, case_id)}

    @routes.get("/v1/agencies/{agency_id}/inbox")
    async def agency_inbox(agency_id: str) -> dict[str, Any]:
        return {"agency_id": agency_id, "referrals": await run_in_threadpool(_inbox, agency_id)}

    return routes
