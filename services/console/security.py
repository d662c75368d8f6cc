"""Sessions in a signed cookie, CSRF tokens on every form, and the headers every page carries.

The session cookie holds the signed-in person's token and the claims it names (ids and codes,
never personal data); it is signed with a key under var/keys, HttpOnly and SameSite=Lax, and
Secure where the deployment runs behind TLS. Every form carries the session's CSRF token and a
POST without it is refused before anything is called.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from shared.keyfiles import create_private

SESSION_COOKIE = "qorgau_console"
LANG_COOKIE = "qorgau_lang"
CSRF_FIELD = "csrf_token"
# Scripts, styles and images only from the console itself: no inline script, no eval, no
# framing; forms post only back to the console.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def session_key(path: Path) -> str:
    """Return the key that signs session cookies, creating it (mode 0600) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        create_private(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, key: str, *, max_age: int, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(key, salt="qorgau-console-session")
        self.max_age = max_age
        self.secure = secure

    def load(self, cookie: str | None) -> dict[str, Any]:
        """Return the session a cookie carries, or an empty one (bad, old or missing)."""
        if not cookie:
            return {}
        try:
            data = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}

    def dump(self, session: dict[str, Any]) -> str:
        """Return the signed cookie value of a session."""
        return self._signer.dumps(session)


class SecurityMiddleware(BaseHTTPMiddleware):
    """Load the session, write it back when changed, add the security headers."""

    def __init__(self, app: ASGIApp, sessions: Sessions) -> None:
        super().__init__(app)
        self.sessions = sessions

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Wrap one request."""
        session = self.sessions.load(request.cookies.get(SESSION_COOKIE))
        if CSRF_FIELD not in session:
            session[CSRF_FIELD] = secrets.token_urlsafe(32)
            request.state.session_changed = True
        else:
            request.state.session_changed = False
        request.state.session = session
        response = await call_next(request)
        if request.state.session_changed:
            response.set_cookie(
                SESSION_COOKIE,
                self.sessions.dump(request.state.session),
                max_age=self.sessions.max_age,
                httponly=True,
                samesite="lax",
                secure=self.sessions.secure,
                path="/",
            )
        for name, value in HEADERS.items():
            if not request.url.path.startswith("/static/") or name != "Cache-Control":
                response.headers.setdefault(name, value)
        return response


def session(request: Request) -> dict[str, Any]:
    """Return the request's session (the middleware loaded it)."""
    found: dict[str, Any] = request.state.session
    return found


def change_session(request: Request, **values: Any) -> None:
    """Set values in the session; the cookie is rewritten with the response."""
    request.state.session.update(values)
    request.state.session_changed = True


def clear_session(request: Request) -> None:
    """Sign out: a fresh session with a fresh CSRF token."""
    request.state.session = {CSRF_FIELD: secrets.token_urlsafe(32)}
    request.state.session_changed = True


def csrf_token(request: Request) -> str:
    """Return the CSRF token forms of this session carry."""
    return str(session(request)[CSRF_FIELD])


def csrf_ok(request: Request, sent: Any) -> bool:
    """Tell whether a form's CSRF token is the session's."""
    expected = session(request).get(CSRF_FIELD)
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())
