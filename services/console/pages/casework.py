"""The child-rights body's pages: its caseload, a case's manager (Rules 38874 p.12.2), the
primary assessment (R19, Appendix 1), the rehabilitation plan (R20, Appendix 2) and their
printed documents. Casework answers and refuses; the console shows it, with the person's token.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import uuid4

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
# Appendix 1's written sections the console edits (1, 2, 6) and the assessors' signing day (7).
ASSESSMENT_TEXT = ("home_family", "relations", "conclusions")
LINE_KINDS = ("medical", "psychological", "pedagogical", "social", "legal")


def filled(form: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """Return the named fields a person filled (stripped), leaving out the empty ones."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


def assessment_body(current: dict[str, Any] | None, form: dict[str, str]) -> dict[str, Any]:
    """Return the assessment to save: the current draft with the sections typed replaced."""
    body: dict[str, Any] = {}
    if current and current.get("versions"):
        body = dict(current["versions"][-1].get("form") or {})
    for name in (*ASSESSMENT_TEXT, "signed_on"):
        body[name] = form.get(name, "").strip() or None
    return body


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
        page: Page,
        case_id: str,
        *,
        typed_person: str = "",
        problem: str = "",
        status: int = 200,
        typed: dict[str, dict[str, str]] | None = None,
        errors: dict[str, dict[str, str]] | None = None,
        reason: dict[str, str] | None = None,
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
            line_kinds=LINE_KINDS,
            typed=typed or {},
            errors=errors or {},
            reason=reason or {},
        )

    async def sent(
        request: Request,
        case_id: str,
        form_name: str,
        call: Any,
        done: str,
    ) -> Response:
        # One way for every casework form: casework's answer, or the form back with its errors.
        page = Page(request, deps.clock)
        raw = await request.form()
        form = {key: str(value)[:4000] for key, value in raw.items() if isinstance(value, str)}
        if not csrf_ok(request, form.get("csrf_token")):
            return Response("CSRF token missing or wrong", status_code=403)
        reply = await call(page, form)
        if reply.ok:
            page.flash("ok", page.gettext(done))
            return redirect(f"/casework/cases/{case_id}#h-{form_name}")
        return await case_page(
            page,
            case_id,
            status=reply.status or 503,
            typed={form_name: form},
            errors={form_name: dict(reply.problems)},
            reason={form_name: refusal(page, reply)},
        )

    @routes.post("/casework/cases/{case_id}/assessment")
    async def save_assessment(request: Request, case_id: str) -> Response:
        async def call(page: Page, form: dict[str, str]) -> Any:
            current = await deps.backends.get(
                "casework", f"/v1/cases/{case_id}/assessment", page.token
            )
            body = assessment_body(current.body if current.ok else None, form)
            return await deps.backends.put(
                "casework", f"/v1/cases/{case_id}/assessment", page.token, json=body
            )

        return await sent(request, case_id, "assessment", call, "Draft saved.")

    @routes.post("/casework/cases/{case_id}/plans")
    async def create_plan(request: Request, case_id: str) -> Response:
        async def call(page: Page, form: dict[str, str]) -> Any:
            body = filled(form, ("period_start", "period_end", "assessed_from", "assessed_to"))
            return await deps.backends.post(
                "casework", f"/v1/cases/{case_id}/plans", page.token, json=body
            )

        return await sent(request, case_id, "plan", call, "Draft saved.")

    @routes.post("/casework/cases/{case_id}/plans/{plan_id}/lines")
    async def add_line(request: Request, case_id: str, plan_id: str) -> Response:
        async def call(page: Page, form: dict[str, str]) -> Any:
            body = filled(form, ("kind", "activity", "assigned_on", "due_on", "responsible"))
            return await deps.backends.put(
                "casework", f"/v1/plans/{plan_id}/lines/{uuid4()}", page.token, json=body
            )

        return await sent(request, case_id, "line", call, "Draft saved.")

    @routes.post("/casework/cases/{case_id}/plans/{plan_id}/consent")
    async def consent(request: Request, case_id: str, plan_id: str) -> Response:
        async def call(page: Page, form: dict[str, str]) -> Any:
            body = filled(form, ("name", "given_on", "not_obtained_reason"))
            return await deps.backends.put(
                "casework", f"/v1/plans/{plan_id}/consent", page.token, json=body
            )

        return await sent(request, case_id, "consent", call, "Draft saved.")

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
