"""The shelter's and the family support centre's pages: their current stays and appeals with the
obligations and the next step, and the forms of the first step (the shelter's personal
application with consent, Standard 14701 Appendix 4; the centre's appeal with its channel and
consent, Family Centre Rules p.12-13). Each service checks, stores and audits as always.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from services.console.clients import Reply
from services.console.deps import ConsoleDeps
from services.console.pages.agency import refusal
from services.console.pages.guard import signed_in
from services.console.pages.work import LOCAL_MINUTE, local_input
from services.console.render import Page, redirect
from services.console.security import csrf_ok
from shared.clock import ALMATY

# The next step of a stay by its status (Standard 14701), with the row it meets.
STAY_NEXT = {
    "arrived": "S2 · p.13",
    "screened": "S4 · p.28-30",
    "recognised": "S5 · p.30-31",
    "sheet_sent": "S7 · p.31",
    "decided": "S8 · p.31",
    "decision_received": "S9 · p.32-33",
    "contracted": "S13, S14, S15 · p.14-21",
}
# The next step of an appeal by its stage (Family Centre Rules 34499).
APPEAL_NEXT = {
    "received": "F2, F3 · p.13.1-13.2",
    "assessed": "F4 · p.13.3",
    "needs_determined": "F5 · p.15",
}
CHANNELS = ("person", "contact_centre_111", "state_information_systems", "body_or_person", "media")


def aware(typed: str) -> str | None:
    """Return an Almaty datetime-local value as ISO 8601 with its offset, or None."""
    try:
        return datetime.strptime(typed.strip(), LOCAL_MINUTE).replace(tzinfo=ALMATY).isoformat()
    except ValueError:
        return None


def application_body(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the shelter's application form into the shelter's body; the console's problems."""
    problems: dict[str, str] = {}
    arrived = aware(form.get("arrived_at", ""))
    if arrived is None:
        problems["arrived_at"] = "Give the date and time."
    person: dict[str, Any] = {"full_name": form.get("person.full_name", "").strip()}
    if form.get("person.birth_date"):
        person["birth_date"] = form["person.birth_date"]
    body = {
        "arrival": "application",
        "arrived_at": arrived,
        "person": person,
        "consent": form.get("consent") == "yes",
        "refuses_police": form.get("refuses_police") == "yes",
    }
    return body, problems


def appeal_body(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn the centre's appeal form into the centre's body; the console's problems."""
    problems: dict[str, str] = {}
    received = aware(form.get("received_at", ""))
    if received is None:
        problems["received_at"] = "Give the date and time."
    body: dict[str, Any] = {
        "channel": form.get("channel", ""),
        "received_at": received,
        "domestic_violence": form.get("domestic_violence") == "yes",
        "threat_to_life": form.get("threat_to_life") == "yes",
    }
    if form.get("person.full_name", "").strip():
        body["person"] = {"full_name": form["person.full_name"].strip()}
    if form.get("summary", "").strip():
        body["summary"] = form["summary"].strip()
    if form.get("consent.given_on"):
        body["consent"] = {"given_on": form["consent.given_on"]}
    return body, problems


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the shelter's and the family centre's pages."""
    routes = APIRouter(dependencies=[Depends(signed_in)])

    async def shelter_page(
        page: Page, typed: dict[str, str] | None = None, reply: Reply | None = None
    ) -> Response:
        stays = await deps.backends.get("shelter", "/v1/stays", page.token)
        rows = list(stays.body.get("stays", [])) if stays.ok else []
        rows.sort(key=lambda row: row.get("arrived_at") or "", reverse=True)
        return page.render(
            "shelter.html",
            status=(reply.status or 503) if reply is not None else 200,
            replies=(stays,),
            stays=stays,
            rows=rows,
            next_step=STAY_NEXT,
            values=typed or {"arrived_at": local_input(page.clock.now())},
            errors=dict(reply.problems) if reply is not None else {},
            reason=refusal(page, reply) if reply is not None and not reply.problems else "",
        )

    async def centre_page(
        page: Page, typed: dict[str, str] | None = None, reply: Reply | None = None
    ) -> Response:
        appeals = await deps.backends.get("familycentre", "/v1/appeals", page.token)
        rows = list(appeals.body.get("appeals", [])) if appeals.ok else []
        rows = [row for row in rows if row.get("stage") != "closed"]
        rows.sort(key=lambda row: row.get("received_at") or "", reverse=True)
        errors = dict(reply.problems) if reply is not None else {}
        if "consent" in errors:
            # p.13: the consent's day is the field a person fills.
            errors.setdefault("consent.given_on", errors["consent"])
        return page.render(
            "familycentre.html",
            status=(reply.status or 503) if reply is not None else 200,
            replies=(appeals,),
            appeals=appeals,
            rows=rows,
            next_step=APPEAL_NEXT,
            channels=CHANNELS,
            values=typed or {"received_at": local_input(page.clock.now())},
            errors=errors,
            reason=refusal(page, reply) if reply is not None and not reply.problems else "",
        )

    async def submitted(request: Request) -> dict[str, str] | None:
        raw = await request.form()
        form = {key: str(value)[:4000] for key, value in raw.items() if isinstance(value, str)}
        return form if csrf_ok(request, form.get("csrf_token")) else None

    @routes.get("/shelter")
    async def shelter(request: Request) -> Response:
        return await shelter_page(Page(request, deps.clock))

    @routes.post("/shelter/stays")
    async def apply(request: Request) -> Response:
        page = Page(request, deps.clock)
        form = await submitted(request)
        if form is None:
            return Response("CSRF token missing or wrong", status_code=403)
        body, problems = application_body(form)
        reply = (
            Reply("shelter", 422, problems=problems)
            if problems
            else await deps.backends.post("shelter", "/v1/stays", page.token, json=body)
        )
        if reply.ok:
            page.flash("ok", page.gettext("Application recorded."))
            return redirect("/shelter")
        return await shelter_page(page, form, reply)

    @routes.get("/familycentre")
    async def centre(request: Request) -> Response:
        return await centre_page(Page(request, deps.clock))

    @routes.post("/familycentre/appeals")
    async def appeal(request: Request) -> Response:
        page = Page(request, deps.clock)
        form = await submitted(request)
        if form is None:
            return Response("CSRF token missing or wrong", status_code=403)
        body, problems = appeal_body(form)
        reply = (
            Reply("familycentre", 422, problems=problems)
            if problems
            else await deps.backends.post("familycentre", "/v1/appeals", page.token, json=body)
        )
        if reply.ok:
            page.flash("ok", page.gettext("Appeal recorded."))
            return redirect("/familycentre")
        return await centre_page(page, form, reply)

    return routes
