"""An agency's pages: inbox, our obligations, a case. Each calls the owning service with the
person's token, so the service decides what is shown and audits as always.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from starlette.requests import Request
from starlette.responses import Response

from services.console.clients import Reply
from services.console.deps import ConsoleDeps
from services.console.pages.guard import signed_in
from services.console.render import Page, redirect
from services.console.security import csrf_ok
from shared.contracts.routing import DeclineReason

# Why a person reads personal data: the code goes into intake's audit entry with the read.
PURPOSES = ("case_management", "offence_check", "child_protection", "medical_help")
STATUS_ORDER = ("breached", "due_soon", "open", "met", "cancelled")


def group_obligations(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group obligations as a person reads them: breached, due soon, open, met (cancelled)."""
    groups: dict[str, list[dict[str, Any]]] = {status: [] for status in STATUS_ORDER}
    for row in rows:
        status = row.get("status") or "open"
        if status == "open" and row.get("due_soon"):
            status = "due_soon"
        groups.setdefault(status, []).append(row)
    for found in groups.values():
        found.sort(key=lambda row: row.get("due_at") or "")
    return groups


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the agency pages."""
    routes = APIRouter(dependencies=[Depends(signed_in)])

    @routes.get("/inbox")
    async def inbox(request: Request) -> Response:
        page = Page(request, deps.clock)
        who = page.who or {}
        reply = await deps.backends.get(
            "routing", f"/v1/agencies/{who.get('agency_id')}/inbox", page.token
        )
        rows = list(reply.body.get("referrals", [])) if reply.ok else []
        rows.sort(key=lambda row: row.get("issued_at") or "", reverse=True)
        return page.render(
            "inbox.html",
            replies=(reply,),
            reply=reply,
            referrals=rows,
            reasons=[reason.value for reason in DeclineReason],
            what=deps.what,
        )

    async def answer(request: Request, path: str, body: dict[str, Any], done: str) -> Response:
        page = Page(request, deps.clock)
        reply = await deps.backends.post("routing", path, page.token, json=body)
        if reply.ok:
            page.flash("ok", page.gettext(done))
        else:
            page.flash("error", refusal(page, reply))
        return redirect("/inbox")

    @routes.post("/referrals/{referral_id}/acknowledge")
    async def acknowledge(
        request: Request,
        referral_id: str,
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        return await answer(
            request, f"/v1/referrals/{referral_id}/acknowledge", {}, "Referral acknowledged."
        )

    @routes.post("/referrals/{referral_id}/decline")
    async def decline(
        request: Request,
        referral_id: str,
        reason: Annotated[str, Form(max_length=40)] = "",
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        if not csrf_ok(request, csrf_token):
            return Response("CSRF token missing or wrong", status_code=403)
        return await answer(
            request,
            f"/v1/referrals/{referral_id}/decline",
            {"reason": reason},
            "Referral declined: routing sends it on.",
        )

    @routes.get("/cases/{case_id}")
    async def case(request: Request, case_id: str, purpose: str | None = None) -> Response:
        page = Page(request, deps.clock)
        token = page.token
        calls = [
            deps.backends.get("intake", f"/v1/cases/{case_id}", token),
            deps.backends.get("deadlines", f"/v1/cases/{case_id}/obligations", token),
            deps.backends.get("routing", f"/v1/cases/{case_id}/referrals", token),
        ]
        chosen = purpose if purpose in PURPOSES else None
        if chosen:
            calls.append(
                deps.backends.get(
                    "intake", f"/v1/cases/{case_id}/subject", token, params={"purpose": chosen}
                )
            )
        replies: tuple[Reply, ...] = tuple(await asyncio.gather(*calls))
        summary, obligations_reply, referrals_reply = replies[:3]
        subject = replies[3] if chosen else None
        rows = list(obligations_reply.body.get("obligations", [])) if obligations_reply.ok else []
        rows.sort(key=lambda row: row.get("due_at") or "")
        return page.render(
            "case.html",
            replies=replies,
            case_id=case_id,
            summary=summary,
            obligations_reply=obligations_reply,
            obligations=rows,
            referrals_reply=referrals_reply,
            referrals=list(referrals_reply.body.get("referrals", [])) if referrals_reply.ok else [],
            subject=subject,
            purposes=PURPOSES,
            purpose=chosen,
            what=deps.what,
        )

    return routes


def refusal(page: Page, reply: Reply) -> str:
    """Say in the person's language why a service refused, with the service's own reason."""
    if reply.down:
        return page.gettext("The service is not answering:") + f" {reply.service}"
    if reply.status == 401:
        return page.gettext("Your session has ended: sign in again.")
    if reply.status == 403:
        return page.gettext("Refused:") + f" {reply.reason or reply.status}"
    if reply.status == 409:
        return page.gettext("Not possible now:") + f" {reply.reason}"
    if reply.status == 422 and reply.problems:
        details = "; ".join(f"{k}: {v}" for k, v in reply.problems.items())
        return page.gettext("Not accepted:") + f" {details}"
    return page.gettext("The service answered") + f" {reply.status} {reply.reason}".rstrip()
