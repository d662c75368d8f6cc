"""The console's composition root: settings -> clients -> sessions -> pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Query
from fastapi.staticfiles import StaticFiles
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.console.clients import Backends
from services.console.config import ConsoleSettings
from services.console.deps import ConsoleDeps
from services.console.oidc import ClaimsRefused, Provider, map_claims
from services.console.pages import agency, care, casework, operator, report, signin, work
from services.console.pages.guard import SignInFirst
from services.console.render import Page, redirect
from services.console.security import SecurityMiddleware, Sessions, change_session, session
from services.console.security import session_key as load_session_key
from shared.auth import Role, TokenKeys
from shared.clock import Clock, SystemClock
from shared.telemetry import setup_tracing

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def build(settings: ConsoleSettings | None = None, clock: Clock | None = None) -> FastAPI:
    """Wire the console."""
    settings = settings or ConsoleSettings()
    clock = clock or SystemClock()
    backends = Backends(settings)
    provider = Provider(settings) if settings.oidc_issuer and settings.oidc_client_id else None
    deps = ConsoleDeps(settings=settings, clock=clock, backends=backends, oidc=provider)

    # The console's spans start the trace a person's action makes: the services' spans (whose
    # context the clients pass on) hang below them.
    tracer = setup_tracing(
        "console", var_dir=settings.var_dir, otlp_endpoint=settings.otlp_endpoint
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await backends.close()
        tracer.shutdown()

    app = FastAPI(
        title="Qorgau console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    sessions = Sessions(
        load_session_key(settings.session_key_file()),
        max_age=int(settings.session_hours * 3600),
        secure=settings.secure_cookies,
    )
    app.add_middleware(SecurityMiddleware, sessions=sessions)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "console"})

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, _error: SignInFirst) -> Response:
        return redirect("/signin")

    @app.get("/")
    async def home(request: Request) -> Response:
        who = session(request).get("who")
        if not isinstance(who, dict):
            return redirect("/signin")
        if who.get("role") == Role.OPERATOR.value:
            return redirect("/operator/compliance")
        return redirect("/inbox")

    @app.get("/signin/oidc")
    async def oidc_start(request: Request) -> Response:
        if provider is None:
            return Response("OpenID Connect is not configured", status_code=404)
        url, kept = await provider.start()
        change_session(request, oidc=kept)
        return redirect(url)

    @app.get("/signin/oidc/callback")
    async def oidc_callback(
        request: Request,
        code: Annotated[str, Query(max_length=2000)] = "",
        state: Annotated[str, Query(max_length=200)] = "",
    ) -> Response:
        page = Page(request, clock)
        # One try per start: the PKCE verifier and state leave the session whatever happens.
        kept = session(request).pop("oidc", None)
        request.state.session_changed = True
        if provider is None or not isinstance(kept, dict) or state != kept.get("state"):
            page.flash("error", page.gettext("Sign-in failed: start again."))
            return redirect("/signin")
        try:
            who = map_claims(await provider.finish(code, kept), settings)
        except ClaimsRefused as refused:
            page.flash("error", str(refused))
            return redirect("/signin")
        except Exception:  # the provider refused the code, or its ID token is bad
            log.warning("OpenID Connect sign-in failed", exc_info=True)
            page.flash("error", page.gettext("Sign-in failed: start again."))
            return redirect("/signin")
        keys = TokenKeys.load_or_create(settings.resolved_token_key_file())
        try:
            token = keys.issue(
                agency_id=who["agency_id"],
                agency_type=who["agency_type"],
                region=who["region"],
                role=who["role"],
                subject=who["subject"],
                now=clock.now(),
                ttl=timedelta(hours=settings.session_hours),
            )
        except ValueError as refused:
            # An agency type the platform does not know, or a verify-only key file.
            page.flash("error", page.gettext("Sign-in failed: start again.") + f" ({refused})")
            return redirect("/signin")
        signin.sign_in(request, token, who, who["role"], who["subject"])
        return redirect("/")

    app.include_router(signin.router(deps))
    app.include_router(agency.router(deps))
    app.include_router(work.router(deps))
    app.include_router(casework.router(deps))
    app.include_router(care.router(deps))
    app.include_router(report.router(deps))
    app.include_router(operator.router(deps))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer, excluded_urls="health,static")
    return app


def main() -> None:
    """Run the console."""
    settings = ConsoleSettings()
    uvicorn.run(
        build(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
    )
