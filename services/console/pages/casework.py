"""The child-rights body's pages: its caseload, a case's manager (Rules 38874 p.12.2), the
primary assessment (R19, Appendix 1), the rehabilitation plan (R20, Appendix 2) and their
printed documents. Casework answers and refuses; the console shows it, with the person's token.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request
from starlette.responses import Response

from services.console.deps import ConsoleDeps
from services.console.pages.agency import refusal
from services.console.pages.guard import signed_in
from services.console.render import Page, redirect
from services.console.security import csrf_ok

LANGS = ("kk", "ru")
FORMATS = ("pdf", "html")


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the casework pages."""
    routes = APIRouter(dependencies=[Depends(signed_in)])

    @routes.get("/caseload")
    async def caseload(request: Request) -> Response:
        page = Page(request, deps.clock)
        agency_id = (page.who or {}).get("agency_id")
        reply = await deps.backends.get(
            "casework", f"/v1/agencies/{agency_id}/caseload", page.token
        )
        cases = list(reply.body.get("cases", [])) if reply.ok else []
        cases.sort(key=lambda row: row.get("arrived_at") or "", reverse=True)
        return page.render("caseload.html", replies=(reply,), reply=reply, cases=cases)

    @routes.get("/casework/cases/{case_id}")
    async def case(request: Request, case_id: str, person_id: str = "") -> Response:
        page = Page(request, deps.clock)
        return await case_page(page, case_id, typed_person=person_id)

    async def case_page(
        page: Page, case_id: str, *, typed_person: str = "", problem: str = "", status: int = 200
    ) -> Response:
        token = page.token
        case_reply, assessment, plan = await asyncio.gather(
            deps.backends.get("casework", f"/v1/cases/{case_id}", token),
            deps.backends.get("casework", f"/v1/cases/{case_id}/assessment", token),
            deps.backends.get("casework", f"/v1/cases/{case_id}/plan", token),
        )
        held = case_reply.body if case_reply.ok else {}
        history = list(held.get("case_manager_history", []))
        return page.render(
            "casework_case.html",
            status=status,
            replies=(case_reply,),
            case_id=case_id,
            case_reply=case_reply,
            held=held,
            history=history,
            current=next((h for h in history if not h.get("ended_at")), None),
            assessment=assessment,
            plan=plan,
            typed_person=typed_person,
            problem=problem,
            what=deps.what,
            doc_langs=LANGS,
            doc_formats=FORMATS,
        )

    @routes.post("/casework/cases/{case_id}/manager")
    async def assign(
        request: Request,
        case_id: str,
        person_id: Annotated[str, Form(max_length=120)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        reply = await deps.backends.post(
            "casework",
            f"/v1/cases/{case_id}/manager",
            page.token,
            json={"person_id": person_id.strip()},
        )
        if reply.ok:
            page.flash("ok", page.gettext("Case manager assigned."))
            return redirect(f"/casework/cases/{case_id}")
        problem = next(iter(reply.problems.values()), "") or refusal(page, reply)
        return await case_page(
            page, case_id, typed_person=person_id, problem=problem, status=reply.status or 503
        )

    async def approve(request: Request, path: str, back: str, done: str, sent: str) -> Response:
        page = Page(request, deps.clock)
        if not csrf_ok(request, sent):
            return Response("CSRF token missing or wrong", status_code=403)
        reply = await deps.backends.post("casework", path, page.token, json={})
        if reply.ok:
            page.flash("ok", page.gettext(done))
        else:
            page.flash("error", refusal(page, reply))
        return redirect(back)

    @routes.post("/casework/cases/{case_id}/assessment/approve")
    async def approve_assessment(
        request: Request, case_id: str, csrf_token: Annotated[str, Form(max_length=100)] = ""
    ) -> Response:
        return await approve(
            request,
            f"/v1/cases/{case_id}/assessment/approve",
            f"/casework/cases/{case_id}",
            "Primary assessment approved.",
            csrf_token,
        )

    @routes.post("/casework/plans/{plan_id}/approve")
    async def approve_plan(
        request: Request,
        plan_id: str,
        case_id: Annotated[str, Form(max_length=100)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        return await approve(
            request,
            f"/v1/plans/{plan_id}/approve",
            f"/casework/cases/{case_id}" if case_id else "/caseload",
            "Plan approved.",
            csrf_token,
        )

    @routes.get("/casework/documents/{kind}/{ident}")
    async def document(
        request: Request,
        kind: str,
        ident: str,
        lang: Annotated[str, Query(max_length=2)] = "kk",
        format: Annotated[str, Query(max_length=4)] = "pdf",
    ) -> Response:
        # Printed with the person's token: casework checks and audits the print.
        page = Page(request, deps.clock)
        paths = {
            "assessment": f"/v1/cases/{ident}/assessment/document",
            "plan": f"/v1/plans/{ident}/document",
        }
        if kind not in paths or lang not in LANGS or format not in FORMATS:
            return Response("not found", status_code=404)
        answer = await deps.backends.document(
            "casework", paths[kind], page.token, {"lang": lang, "format": format}
        )
        if answer is None:
            return Response(
                page.gettext("The service is not answering:") + " casework",
                status_code=503,
                media_type="text/plain; charset=utf-8",
            )
        headers = {
            key: value
            for key, value in answer.headers.items()
            if key.lower() in ("content-disposition",)
        }
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", "application/octet-stream"),
            headers=headers,
        )

    return routes
