"""Our obligations with casework's action form: record what was done, with the proof the row
asks for (casework's `evidence_required`), and the head's approval of a caseworker's draft.

Casework decides everything (who may act, the proof, the clause); the console turns the form
into casework's body and shows casework's answer next to the field it names.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.console.clients import Reply
from services.console.deps import ConsoleDeps
from services.console.pages.agency import group_obligations, refusal
from services.console.pages.guard import signed_in
from services.console.render import Page, redirect
from services.console.security import csrf_ok
from shared.clock import ALMATY

LOCAL_MINUTE = "%Y-%m-%dT%H:%M"
OUTCOMES = ("done", "not_done")
MAX_TEXT = 4000


def local_input(moment: datetime) -> str:
    """Return a time as a datetime-local input shows it (Almaty time, to the minute)."""
    return moment.astimezone(ALMATY).strftime(LOCAL_MINUTE)


def action_body(
    form: dict[str, str], evidence_fields: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the action form into casework's body; the console's own problems by field."""
    problems: dict[str, str] = {}
    body: dict[str, Any] = {}
    typed = form.get("done_at", "").strip()
    try:
        # The person types Almaty time (the form says so): it is sent with its offset.
        body["done_at"] = datetime.strptime(typed, LOCAL_MINUTE).replace(tzinfo=ALMATY).isoformat()
    except ValueError:
        problems["done_at"] = "Give the date and time it was done."
    outcome = form.get("outcome", "done")
    body["outcome"] = outcome if outcome in OUTCOMES else "done"
    summary = form.get("summary", "").strip()
    if summary:
        body["summary"] = summary[:MAX_TEXT]
    body["evidence"] = {
        name: form.get(f"evidence.{name}", "").strip()
        for name in evidence_fields
        if form.get(f"evidence.{name}", "").strip()
    }
    return body, problems


async def obligations_page(
    page: Page,
    deps: ConsoleDeps,
    *,
    typed: dict[str, dict[str, str]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    reason: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """Render our obligations: deadlines' terms, casework's proof and drafts, the forms."""
    who = page.who or {}
    agency_id = who.get("agency_id")
    deadlines_reply, work_reply = await asyncio.gather(
        deps.backends.get("deadlines", f"/v1/agencies/{agency_id}/obligations", page.token),
        deps.backends.get(
            "casework",
            f"/v1/agencies/{agency_id}/obligations",
            page.token,
            params={"status": "open"},
        ),
    )
    rows = list(deadlines_reply.body.get("obligations", [])) if deadlines_reply.ok else []
    work: dict[str, dict[str, Any]] = {}
    if work_reply.ok:
        for row in work_reply.body.get("obligations", []):
            work[str(row["obligation_id"])] = row
    for oid, form in (typed or {}).items():
        # Casework did not answer: the form comes back from what was typed, nothing lost.
        fields = [key.removeprefix("evidence.") for key in form if key.startswith("evidence.")]
        work.setdefault(
            oid,
            {
                "status": "open",
                "evidence_required": {"fields": fields, "clause": ""} if fields else None,
            },
        )
    drafts: dict[str, list[dict[str, Any]]] = {}
    if who.get("role") == "head":
        # The head approves caseworkers' drafts on the rows that are the head's act.
        wanted = [oid for oid, row in work.items() if row.get("head_approval")]
        found = await asyncio.gather(
            *(deps.backends.get("casework", f"/v1/obligations/{oid}", page.token) for oid in wanted)
        )
        for oid, reply in zip(wanted, found, strict=True):
            if reply.ok:
                drafts[oid] = [
                    a for a in reply.body.get("actions", []) if a.get("status") == "draft"
                ]
    return page.render(
        "obligations.html",
        status=status,
        replies=(deadlines_reply, work_reply),
        reply=deadlines_reply,
        groups=group_obligations(rows),
        what=deps.what,
        work=work,
        drafts=drafts,
        typed=typed or {},
        errors=errors or {},
        reason=reason or {},
        default_done=local_input(page.clock.now()),
    )


def router(deps: ConsoleDeps) -> APIRouter:
    """Build our obligations and the action routes."""
    routes = APIRouter(dependencies=[Depends(signed_in)])

    @routes.get("/obligations")
    async def obligations(request: Request) -> Response:
        return await obligations_page(Page(request, deps.clock), deps)

    @routes.post("/obligations/{obligation_id}/action")
    async def record(request: Request, obligation_id: str) -> Response:
        page = Page(request, deps.clock)
        raw = await request.form()
        form = {key: str(value)[:MAX_TEXT] for key, value in raw.items() if isinstance(value, str)}
        if not csrf_ok(request, form.get("csrf_token")):
            return Response("CSRF token missing or wrong", status_code=403)
        fields = [key.removeprefix("evidence.") for key in form if key.startswith("evidence.")][:10]
        body, problems = action_body(form, fields)
        kept = {obligation_id: form}
        if problems:
            return await obligations_page(
                page, deps, typed=kept, errors={obligation_id: problems}, status=422
            )
        reply = await deps.backends.post(
            "casework", f"/v1/obligations/{obligation_id}/actions", page.token, json=body
        )
        if reply.ok:
            done = (
                "Recorded as a draft: the head approves it."
                if reply.body.get("status") == "draft"
                else "Action recorded."
            )
            page.flash("ok", page.gettext(done))
            return redirect(f"/obligations#ob-{obligation_id}")
        if reply.status == 401:
            return page.render("obligations.html", replies=(reply,))
        return await obligations_page(
            page,
            deps,
            typed=kept,
            errors={obligation_id: dict(reply.problems)},
            reason={obligation_id: refusal(page, reply)},
            status=reply.status if not reply.down else 503,
        )

    @routes.post("/actions/{action_id}/approve")
    async def approve(request: Request, action_id: str) -> Response:
        page = Page(request, deps.clock)
        raw = await request.form()
        if not csrf_ok(request, raw.get("csrf_token")):
            return Response("CSRF token missing or wrong", status_code=403)
        reply: Reply = await deps.backends.post(
            "casework", f"/v1/actions/{action_id}/approve", page.token, json={}
        )
        if reply.ok:
            page.flash("ok", page.gettext("Approved: the obligation is met."))
        else:
            page.flash("error", refusal(page, reply))
        back = str(raw.get("next") or "/obligations")
        return redirect(back if back.startswith("/") and not back.startswith("//") else "/")

    return routes
