"""The steps routing's rules refuse, each answered as its own HTTP status."""

from __future__ import annotations


class RoutingError(Exception):
    """A step the rules do not allow."""


class IllegalTransition(RoutingError):
    """A referral cannot go from its status to the one asked (answered 409)."""


class NotAddressee(RoutingError):
    """Only the agency a referral was delivered to may answer it (answered 403)."""


class NoAgencyLeft(RoutingError):
    """Nobody is left to take a declined referral: it must be acknowledged, never dropped."""


class DirectoryError(RoutingError):
    """A directory change that conflicts with the directory (answered 409)."""


class ConsentMissing(RoutingError):
    """A referral the row makes only with the person's consent, recorded without it (422)."""

    field = "consent"


class DirectoryInvalid(RoutingError):
    """A directory entry whose field breaks a rule of the directory (answered 422 naming it)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
