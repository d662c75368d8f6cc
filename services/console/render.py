"""Rendering a page: the template, the person, the language, the CSRF token, what failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.console import i18n, regulation
from services.console.clients import Reply
from services.console.security import (
    LANG_COOKIE,
    change_session,
    clear_session,
    csrf_token,
    session,
)
from shared.agencies import AGENCY_TYPE_NAMES, AgencyType
from shared.clock import Clock

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
TEMPLATES.env.autoescape = True


@dataclass
class Page:
    """What every page knows about the request it answers."""

    request: Request
    clock: Clock

    @property
    def lang(self) -> str:
        """Return the person's language (cookie), the default otherwise."""
        return i18n.pick(self.request.cookies.get(LANG_COOKIE))

    @property
    def who(self) -> dict[str, Any] | None:
        """Return the signed-in person's claims, or None."""
        found = session(self.request).get("who")
        return found if isinstance(found, dict) else None

    @property
    def token(self) -> str | None:
        """Return the signed-in person's token, or None."""
        found = session(self.request).get("token")
        return found if isinstance(found, str) else None

    def gettext(self, message: str) -> str:
        """Translate a message into the person's language."""
        if not message:
            # gettext("") is the catalogue's header, never a message.
            return message
        return i18n.translations(self.lang).gettext(message)

    def agency_type_name(self, code: str | None) -> str:
        """Name an agency type as the regulations do, in the person's language."""
        try:
            kind = AgencyType(code or "")
        except ValueError:
            return code or "—"
        names = AGENCY_TYPE_NAMES.get(kind)
        if names is None:
            return kind.value
        if self.lang == "kk":
            return names[0]
        if self.lang == "ru":
            return names[1]
        return kind.value.replace("_", " ")

    def flash(self, kind: str, message: str) -> None:
        """Keep a message for the next page (after a redirect)."""
        change_session(self.request, flash={"kind": kind, "message": message})

    def render(
        self, template: str, status: int = 200, replies: tuple[Reply, ...] = (), **values: Any
    ) -> Response:
        """Render a template with what every page shows."""
        if self.who is not None and any(reply.status == 401 for reply in replies):
            # A service no longer accepts the token (expired, or the keys rotated): sign in again.
            clear_session(self.request)
            self.flash("error", self.gettext("Your session has ended: sign in again."))
            return redirect("/signin")
        flash = session(self.request).pop("flash", None)
        if flash is not None:
            self.request.state.session_changed = True
        down = sorted({reply.service for reply in replies if reply.down})
        lang = self.lang
        now = self.clock.now()
        english = values.pop("what", None)
        if callable(english):
            # What the regulation asks, in the seed texts' words (routing's English otherwise).
            values["what"] = lambda code, basis=None: regulation.asks(
                code, basis, lang, english(code)
            )
        context = {
            "lang": lang,
            "languages": i18n.NAMES,
            "_": self.gettext,
            "who": self.who,
            "csrf": csrf_token(self.request),
            "flash": flash,
            "down": down,
            "path": quote(
                self.request.url.path
                + (f"?{self.request.url.query}" if self.request.url.query else ""),
                safe="/?=&",
            ),
            "when": lambda value: i18n.when(value, lang),
            "time_left": lambda value: i18n.time_left(value, now, lang),
            "type_name": self.agency_type_name,
            "now": now,
            **values,
        }
        return TEMPLATES.TemplateResponse(self.request, template, context, status_code=status)


def redirect(to: str) -> RedirectResponse:
    """Answer a form with a redirect to a page (303: the browser GETs it)."""
    return RedirectResponse(to, status_code=303)
