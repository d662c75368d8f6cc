"""The obligation contract: how any service opens and fulfils an obligation.

Routing, casework, shelter and family centre each publish these under their own subject
(`qorgau.<service>.obligation_opened.v1`, `qorgau.<service>.obligation_fulfilled.v1`); the
deadlines service subscribes to each producer's subjects and counts and watches the term.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event


class ObligationOpened(Event):
    """A service opened an obligation for the deadlines service to count and watch.

    This is the one contract by which any service (routing, casework, shelter, family
    centre) opens an obligation: its own `obligation_id`, the row code, the legal basis,
    who acts, the term in the compact form of `shared.calendar.Term`, and when it started.
    """

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "obligation_opened"

    obligation_id: UUID
    code: str
    legal_basis: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    target_agency_type: str | None = None
    target_agency_id: str | None = None
    term: str
    started_at: AwareDatetime
    region: str | None = None


class ObligationFulfilled(Event):
    """The action an obligation asked for was done (by an agency, or by the platform itself)."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "obligation_fulfilled"

    obligation_id: UUID
    code: str
    met_at: AwareDatetime
    met_by_agency_id: str | None = None
    met_by_platform: bool = False


class ObligationCancelled(Event):
    """The service that opened an obligation withdrew it, with a reason (e.g. report joined)."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "obligation_cancelled"

    obligation_id: UUID
    code: str
    reason: str
