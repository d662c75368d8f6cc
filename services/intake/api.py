"""Intake's HTTP routes: they check the caller and the input, then call handlers.

Every route needs a bearer token (shared.auth; the app refuses a request without one with 401).
A caller who may not do something gets 403, and the refusal is in the audit log. A reporter
body whose `reporter.agency_id` or `reporter.agency_type` disagrees with the token's agency is
such a refusal: an agency reports in its own name only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from services.intake import duplicates, handlers, views
from services.intake.domain import DuplicateDecision, IllegalDecision, InvalidReport
from services.intake.handlers import IntakeDeps, ReportIn
from shared.auth import Principal, Refused, principal
from shared.http import limited_body
from shared.openapi import Refusal, json_body, refusals
from shared.runtime import field_errors

Caller = Annotated[Principal, Depends(principal)]
PurposeQuery = Annotated[str | None, Query(max_length=80)]
PurposeHeader = Annotated[str | None, Header(alias="Qorgau-Purpose", max_length=80)]


def _purpose(purpose: PurposeQuery = None, purpose_header: PurposeHeader = None) -> str | None:
    return purpose or purpose_header


# The purpose of a read, as a query parameter or the Qorgau-Purpose header.
Purpose = Annotated[str | None, Depends(_purpose)]


class DecisionIn(BaseModel):
    """A decision on a possible duplicate: confirm (the later case joins) or reject."""

    model_config = ConfigDict(extra="forbid")

    decision: DuplicateDecision


# The 503 of a new report: the database is away, or the platform's backlog is over its bound.
SHEDDING_503: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Refusal,
        "description": "The database is unavailable, or intake is shedding load: the work "
        "already waiting on a report's path is over its bound (docs/reliability.md). Nothing "
        "was stored; send the report again after Retry-After seconds.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before sending the report again (1 to 60).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 60},
            }
        },
    }
}


def router(
    deps: IntakeDeps, *, max_body_bytes: int, refuse: Callable[[], int | None] = lambda: None
) -> APIRouter:
    """Build intake's routes; refuse() says when new reports must wait (load shedding)."""
    routes = APIRouter(responses=refusals(403, 404))

    @routes.post(
        "/v1/reports",
        status_code=201,
        openapi_extra=json_body(ReportIn),
        responses=SHEDDING_503,
    )
    async def post_report(request: Request, who: Caller) -> JSONResponse:
        retry_after = refuse()
        if retry_after is not None:
            # Before the body is read: nothing is stored, audited or published for it.
            return JSONResponse(
                {
                    "detail": "intake is shedding load: the platform's backlog is over its "
                    f"bound; send the report again in {retry_after} seconds"
                },
                status_code=503,
                headers={"Retry-After": str(retry_after)},
            )
        body = await limited_body(request, max_body_bytes)
        if isinstance(body, JSONResponse):
            return body
        try:
            data: Any = json.loads(body)
        except ValueError:
            return _unprocessable([{"field": "body", "message": "not JSON", "type": "json"}])
        except RecursionError:
            message = "nested too deeply"
            return _unprocessable([{"field": "body", "message": message, "type": "json"}])
        try:
            report = ReportIn.model_validate(data, context={"now": deps.clock.now()})
        except ValidationError as error:
            return _unprocessable(field_errors(error.errors()))
        except InvalidReport as error:
            return _problems(error)
        try:
            own = await run_in_threadpool(handlers.reporter_of, report, who, deps=deps)
        except Refused as refused:
            return _forbidden(refused)
        done = await run_in_threadpool(handlers.register_report, own, deps=deps)
        if deps.wake_relay is not None:
            deps.wake_relay()
        return JSONResponse(
            {
                "case_id": done.case_id,
                "report_id": done.report_id,
                "case_number": done.case_number,
                "joined_existing_case": done.joined,
                "child_case_ids": list(done.child_case_ids),
            },
            status_code=201,
        )

    @routes.get("/v1/cases/{case_id}")
    async def get_case(case_id: uuid.UUID, who: Caller) -> JSONResponse:
        return await _answer(lambda: views.read_case(str(case_id), who, deps=deps))

    @routes.get("/v1/cases/{case_id}/subject")
    async def get_subject(case_id: uuid.UUID, who: Caller, purpose: Purpose) -> JSONResponse:
        return await _personal(
            purpose, lambda why: views.read_subject(str(case_id), who, purpose=why, deps=deps)
        )

    @routes.get("/v1/reports/{report_id}")
    async def get_report(report_id: uuid.UUID, who: Caller, purpose: Purpose) -> JSONResponse:
        return await _personal(
            purpose, lambda why: views.read_report(str(report_id), who, purpose=why, deps=deps)
        )

    @routes.post(
        "/v1/cases/{case_id}/duplicate-candidates/{candidate_id}/decision",
        responses={409: {"description": "Already decided, or a case is no longer open"}},
    )
    async def decide_duplicate(
        case_id: uuid.UUID, candidate_id: uuid.UUID, decision: DecisionIn, who: Caller
    ) -> JSONResponse:
        """Confirm or reject a possible duplicate (the head of a body both cases reached)."""
        try:
            return await _answer(
                lambda: duplicates.decide(
                    str(case_id), str(candidate_id), decision.decision, who, deps=deps
                )
            )
        except duplicates.UnknownCandidate:
            return JSONResponse({"detail": "not found"}, status_code=404)
        except IllegalDecision as illegal:
            return JSONResponse({"detail": str(illegal)}, status_code=409)

    return routes


async def _personal(purpose: str | None, read: Callable[[str], Any]) -> JSONResponse:
    # A read of personal data names its purpose: it goes into the audit log with the read.
    try:
        why = views.check_purpose(purpose)
    except InvalidReport as error:
        return _problems(error)
    return await _answer(lambda: read(why))


async def _answer(call: Callable[[], Any]) -> JSONResponse:
    try:
        return JSONResponse(await run_in_threadpool(call))
    except Refused as refused:
        return _forbidden(refused)
    except views.NotFound:
        return JSONResponse({"detail": "not found"}, status_code=404)


def _forbidden(refused: Refused) -> JSONResponse:
    return JSONResponse({"detail": refused.reason}, status_code=403)


def _problems(error: InvalidReport) -> JSONResponse:
    return _unprocessable(
        [
            {"field": field, "message": message, "type": "value_error"}
            for field, message in error.problems.items()
        ]
    )


def _unprocessable(problems: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=422)
