"""Refused tokens in the audit log: who they claimed to be, why they failed, how many came.

A 401 has no verified caller, so the entry carries what the token claims (agency, person,
role), marked unverified: role `unverified`, and the reason says so. A flood of bad tokens must
not flood the log: one entry per source and reason per interval, the first at once, and those
that followed counted in one entry when the interval is over.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from shared import audit
from shared.access import Gatekeeper
from shared.auth import unverified_claims

log = logging.getLogger(__name__)

UNVERIFIED = "unverified"
ACTION = "token.verify"
DEFAULT_INTERVAL = timedelta(minutes=1)
# Past this many sources in one interval, further ones share one count per reason.
MAX_SOURCES = 1000
OTHER_SOURCES = "other-sources"


@dataclass
class _Window:
    started: datetime
    claims: dict[str, str]
    # Refusals after the first, not yet written.
    pending: int = 0


class TokenRefusals:
    """Counts refused tokens per source and reason; writes the audit entries the limit allows."""

    def __init__(self, gate: Gatekeeper, *, interval: timedelta = DEFAULT_INTERVAL) -> None:
        self.gate = gate
        self.interval = interval
        self._windows: dict[tuple[str, str], _Window] = {}
        # Counted on the event loop, settled from a worker thread.
        self._lock = threading.Lock()

    def due(self, source: str, reason: str, token: str | None) -> list[audit.Access]:
        """Count one refusal; return the entries to write now (often none)."""
        claims = unverified_claims(token) if token else {}
        with self._lock:
            return self._count(source, reason, claims)

    def _count(self, source: str, reason: str, claims: dict[str, str]) -> list[audit.Access]:
        now = self.gate.clock.now()
        out = self._closed(now)
        if (source, reason) not in self._windows and len(self._windows) >= MAX_SOURCES:
            source = OTHER_SOURCES
        key = (source, reason)
        window = self._windows.get(key)
        if window is not None:
            window.pending += 1
            return out
        self._windows[key] = _Window(now, claims)
        out.append(_entry(source, reason, claims, count=1, since=None))
        return out

    def settle(self) -> None:
        """Write the counts of intervals that are over, though no refusal came after them."""
        with self._lock:
            entries = self._closed(self.gate.clock.now())
        self.write(entries)

    def _closed(self, now: datetime) -> list[audit.Access]:
        out = []
        for key, window in list(self._windows.items()):
            if now - window.started < self.interval:
                continue
            del self._windows[key]
            if window.pending:
                source, reason = key
                out.append(
                    _entry(
                        source, reason, window.claims, count=window.pending, since=window.started
                    )
                )
        return out

    def write(self, entries: list[audit.Access]) -> None:
        """Append the entries to the audit log."""
        for entry in entries:
            audit.record(self.gate.engine, entry, key=self.gate.key, now=self.gate.clock.now())

    async def note(self, source: str, reason: str, token: str | None) -> None:
        """Record a refused token as the limit allows; a failing write never changes the 401."""
        entries = self.due(source, reason, token)
        if not entries:
            return
        try:
            await run_in_threadpool(self.write, entries)
        except Exception as error:
            log.error("refused token not recorded: %s", type(error).__name__)


def _entry(
    source: str, reason: str, claims: dict[str, str], *, count: int, since: datetime | None
) -> audit.Access:
    times = "1 refusal" if since is None else f"{count} more since {since.isoformat()}"
    text = f"invalid token: {reason}; claims unverified; source {source}; {times}"
    return audit.Access(
        actor=claims.get("sub", "unknown")[:120],
        role=UNVERIFIED,
        agency_id=claims.get("agency_id", "unknown")[:80],
        agency_type=claims.get("agency_type", "unknown")[:40],
        case_id=None,
        action=ACTION,
        outcome=audit.REFUSED,
        reason=text[:200],
    )
