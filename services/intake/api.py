"""Intake's HTTP routes: they validate, then call handlers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from services.intake.domain import InvalidReport
from services.intake.handlers import IntakeDeps, ReportIn, register_report
from shared.runtime import field_errors


def router(deps: IntakeDeps, *, max_body_bytes: int) -> APIRouter:
    """Build intake's routes."""
    routes = APIRouter()

    @routes.post("/v1/reports", status_code=201)
    async def post_report(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > max_body_bytes:
            problem = f"request body over {max_body_bytes} bytes"
            return _unprocessable([{"field": "body", "message": problem, "type": "too_large"}])
        try:
            data: Any = json.loads(body)
        except ValueError:
            return _unprocessable([{"field": "body", "message": "not JSON", "type": "json"}])
        try:
            report = ReportIn.model_validate(data, context={"now": deps.clock.now()})
        except ValidationError as error:
            return _unprocessable(field_errors(error.errors()))
        except InvalidReport as error:
            return _unprocessable(
                [
                    {"field": k, "message": v, "type": "value_error"}
                    for k, v in error.problems.items()
                ]
            )
        done = await run_in_threadpool(register_report, report, deps=deps)
        if deps.wake_relay is not None:
            deps.wake_relay()
        return JSONResponse(
            {
                "case_id": done.case_id,
                "report_id": done.report_id,
                "case_number": done.case_number,
                "joined_existing_case": done.joined,
            },
            status_code=201,
        )

    return routes


def _unprocessable(problems: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=422)
