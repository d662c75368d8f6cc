"""The printed forms: `GET /v1/cases/{case_id}/assessment/document`, `GET /v1/plans/{id}/document`.

`?lang=kk|ru&format=pdf|html&version=N` (by default the newest version, the plan's in force).
They print personal data: only the body holding the case gets them, and each print is on the
audit log like any read.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from services.casework import documents, views
from services.casework.api.common import Caller, checked, error, refusals_as_http
from services.casework.handlers import CaseworkDeps
from services.casework.handlers.printing import assessment_html, plan_case, plan_html
from shared.access import Gatekeeper
from shared.auth import Principal
from shared.http import PathId
from shared.openapi import refusals


class Language(StrEnum):
    """The languages the forms print in (Kazakh, Russian)."""

    KK = "kk"
    RU = "ru"


class Format(StrEnum):
    """What the print is: a PDF, or the HTML page it is made from."""

    PDF = "pdf"
    HTML = "html"


_PRINTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The form, as PDF or HTML.",
        "content": {"application/pdf": {}, "text/html": {}},
    }
}


def printed(call: Callable[[], str]) -> str:
    """Print, answering a version that does not exist 404 and a kind with no form here 422."""
    try:
        result: str = refusals_as_http(call)
    except documents.UnknownVersion as unknown:
        raise error(404, f"not found: {unknown}") from None
    except documents.UnsupportedPlan as unsupported:
        raise error(422, str(unsupported), unsupported.field) from None
    return result


def routes_of_documents(deps: CaseworkDeps, *, gate: Gatekeeper) -> APIRouter:
    """Build the routes that print the assessment and the plan."""
    routes = APIRouter(responses={**refusals(403, 404), **_PRINTED})

    def body_prints(who: Principal, case_id: str, action: str, fields: tuple[str, ...]) -> None:
        holder = views.holder(deps.engine, case_id=case_id)
        gate.require(
            who,
            who.agency_id == holder,
            action=action,
            case_id=case_id,
            reason="only the body holding the case prints its assessment and plan",
        )
        gate.record_read(who, action=action, case_id=case_id, fields=fields, purpose="print")

    async def answer(html: str, format: Format, name: str) -> Response:
        if format is Format.HTML:
            return Response(html, media_type="text/html; charset=utf-8")
        pdf = await run_in_threadpool(documents.to_pdf, html)
        disposition = f'inline; filename="{name}.pdf"'
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": disposition}
        )

    @routes.get("/v1/cases/{case_id}/assessment/document", response_class=Response)
    async def assessment_document(
        case_id: PathId,
        who: Caller,
        lang: Annotated[Language, Query()] = Language.KK,
        format: Annotated[Format, Query()] = Format.PDF,
        version: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    ) -> Response:
        await checked(
            lambda: body_prints(who, case_id, "assessment.print", ("assessment.document",))
        )
        html = await run_in_threadpool(
            printed,
            lambda: assessment_html(case_id, lang.value, version=version, deps=deps),
        )
        return await answer(html, format, f"assessment-{case_id}-{lang.value}")

    @routes.get("/v1/plans/{plan_id}/document", response_class=Response)
    async def plan_document(
        plan_id: PathId,
        who: Caller,
        lang: Annotated[Language, Query()] = Language.KK,
        format: Annotated[Format, Query()] = Format.PDF,
        version: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    ) -> Response:
        case_id = await run_in_threadpool(refusals_as_http, lambda: plan_case(plan_id, deps=deps))
        await checked(lambda: body_prints(who, case_id, "plan.print", ("plan.document",)))
        html = await run_in_threadpool(
            printed, lambda: plan_html(plan_id, lang.value, version=version, deps=deps)
        )
        return await answer(html, format, f"plan-{plan_id}-{lang.value}")

    return routes
