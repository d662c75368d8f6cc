"""Signing in and out, and the language switch.

Development deployments list the directory's agencies and the roles and issue the same signed
token `qorgau token issue` does; production signs in through OpenID Connect (services.console.oidc).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.console import i18n
from services.console.deps import ConsoleDeps
from services.console.render import Page, redirect
from services.console.security import LANG_COOKIE, change_session, clear_session, csrf_ok
from shared.auth import Role, TokenKeys

# Operators and integrators carry a token of these agencies (as `qorgau up` writes them).
OPERATOR_AGENCY = "kz-child-rights-national"
# The seed directory lists no schools yet: the two `qorgau up` writes tokens for.
DEV_SCHOOLS = ("school-17", "school-42")
ROLES = (Role.CASEWORKER, Role.HEAD, Role.OPERATOR)


def local_path(target: str | None) -> str:
    """Return target when it is a path on this site, else "/" (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def router(deps: ConsoleDeps) -> APIRouter:
    """Build the sign-in routes."""
    routes = APIRouter()

    async def directory(page: Page) -> tuple[list[dict[str, Any]], Any]:
        keys = TokenKeys.load_or_create(deps.settings.resolved_token_key_file())
        # The directory is routing's: read with an operator's token the console signs here,
        # in development only.
        token = keys.issue(
            agency_id=OPERATOR_AGENCY,
            agency_type="child_rights_national",
            region=None,
            role=Role.OPERATOR,
            subject="console-dev-signin",
            now=page.clock.now(),
            ttl=timedelta(minutes=1),
        )
        reply = await deps.backends.get("routing", "/v1/agencies", token, params={"active": True})
        agencies = list(reply.body.get("agencies", [])) if reply.ok else []
        for school in DEV_SCHOOLS:
            agencies.append(
                {"agency_id": school, "agency_type": "education_org", "region": "KZ-75"}
            )
        agencies.sort(key=lambda a: (a.get("region") or "", a["agency_id"]))
        return agencies, reply

    @routes.get("/signin")
    async def signin(request: Request) -> Response:
        page = Page(request, deps.clock)
        agencies: list[dict[str, Any]] = []
        replies: tuple[Any, ...] = ()
        if deps.settings.development:
            agencies, reply = await directory(page)
            replies = (reply,)
        return page.render(
            "signin.html",
            replies=replies,
            development=deps.settings.development,
            oidc=deps.oidc is not None,
            agencies=agencies,
            roles=[role.value for role in ROLES],
        )

    @routes.post("/signin/dev")
    async def signin_dev(
        request: Request,
        agency_id: Annotated[str, Form(max_length=80)],
        role: Annotated[str, Form(max_length=20)],
        csrf_token: Annotated[str, Form(max_length=100)] = "",
    ) -> Response:
        page = Page(request, deps.clock)
        if not deps.settings.development:
            return Response("development sign-in is off in this deployment", status_code=404)
        if not csrf_ok(request, csrf_token):
            return Response(page.gettext("The form has expired: reload the page."), 403)
        agencies, _reply = await directory(page)
        chosen = role if role in {r.value for r in ROLES} else None
        if chosen == Role.OPERATOR.value:
            agency_id = OPERATOR_AGENCY
        agency = next((a for a in agencies if a["agency_id"] == agency_id), None)
        if agency is None and chosen == Role.OPERATOR.value:
            agency = {"agency_id": OPERATOR_AGENCY, "agency_type": "child_rights_national"}
        if agency is None or chosen is None:
            page.flash("error", page.gettext("Choose an agency and a role."))
            return redirect("/signin")
        keys = TokenKeys.load_or_create(deps.settings.resolved_token_key_file())
        subject = f"dev-{agency['agency_id']}-{chosen}"
        token = keys.issue(
            agency_id=agency["agency_id"],
            agency_type=agency["agency_type"],
            region=agency.get("region"),
            role=chosen,
            subject=subject,
            now=page.clock.now(),
            ttl=timedelta(hours=deps.settings.session_hours),
        )
        sign_in(request, token, agency, chosen, subject)
        return redirect("/")

    @routes.post("/signout")
    async def signout(
        request: Request, csrf_token: Annotated[str, Form(max_length=100)] = ""
    ) -> Response:
        if csrf_ok(request, csrf_token):
            clear_session(request)
        return redirect("/signin")

    @routes.get("/lang/{code}")
    async def language(code: str, next: str = "/") -> Response:
        response = RedirectResponse(local_path(next), status_code=303)
        response.set_cookie(
            LANG_COOKIE,
            i18n.pick(code),
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=deps.settings.secure_cookies,
        )
        return response

    return routes


def sign_in(request: Request, token: str, agency: dict[str, Any], role: str, subject: str) -> None:
    """Keep the person's token and claims in the session (ids and codes only)."""
    change_session(
        request,
        token=token,
        who={
            "agency_id": agency["agency_id"],
            "agency_type": agency["agency_type"],
            "region": agency.get("region"),
            "role": role,
            "subject": subject,
        },
    )
