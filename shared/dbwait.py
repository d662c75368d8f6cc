"""Tell a database outage from a bad message: the first is waited out, the second retried.

A handler that fails because its database is down or restarting (an OperationalError: refused,
dropped, "the database system is starting up") would fail the same way on any message, so the
bus retries it in place, with short pauses, instead of spending the message's retries (1, 5,
30, 120 s apart) on it. Two instances of a service handling events of one case at once may
both insert the same row; the loser's IntegrityError is retried in place a few times too: on
the next try it sees its twin's row and has nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

__all__ = ["DatabaseWait", "is_outage"]

# Pauses between tries while the database is away: quick at first, then every two seconds.
_OUTAGE_PAUSES = (0.2, 0.5, 1.0, 2.0)
# A conflict with a twin resolves as soon as the twin commits.
_CONFLICT_PAUSE = 0.1
_CONFLICT_TRIES = 3


def is_outage(error: BaseException) -> bool:
    """Tell whether an error says the database is unreachable rather than the message bad."""
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@dataclass
class DatabaseWait:
    """The in-place retries of one delivery: how long it waited, how many conflicts it met."""

    waited: float = 0.0
    conflicts: int = 0
    tries: int = 0

    def pause(self, error: BaseException, *, limit: float) -> float | None:
        """Return how long to wait before trying again, or None: fail the delivery."""
        if is_outage(error):
            pause = _OUTAGE_PAUSES[min(self.tries, len(_OUTAGE_PAUSES) - 1)]
            if self.waited + pause > limit:
                return None
            self.tries += 1
            self.waited += pause
            return pause
        if isinstance(error, IntegrityError) and self.conflicts < _CONFLICT_TRIES:
            self.conflicts += 1
            self.waited += _CONFLICT_PAUSE
            return _CONFLICT_PAUSE
        return None
