"""Who may open a page: the console sends a person without a session to sign in."""

from __future__ import annotations

from starlette.requests import Request

from services.console.security import session


class SignInFirst(Exception):
    """The page needs a signed-in person."""


def signed_in(request: Request) -> None:
    """Raise SignInFirst unless someone is signed in."""
    if not isinstance(session(request).get("token"), str):
        raise SignInFirst
