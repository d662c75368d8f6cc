"""The injected clock: domain code asks a Clock for the time, never the system directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")


class Clock(Protocol):
    """Anything that tells the current, timezone-aware time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that tests move by hand."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def now(self) -> datetime:
        """Return the time the test set."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move to an absolute time."""
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at

    def advance(self, delta: timedelta) -> None:
        """Move forward by delta."""
        self._at = self._at + delta
