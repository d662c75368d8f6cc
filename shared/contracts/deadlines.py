"""Events the deadlines service publishes."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event


class ObligationScheduled(Event):
    """Deadlines counted an obligation's term and now watches its due time."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_scheduled"

    obligation_id: UUID
    code: str
    legal_basis: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    due_at: AwareDatetime


class ObligationMet(Event):
    """Deadlines recorded an obligation as met, on time or late."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_met"

    obligation_id: UUID
    code: str
    met_at: AwareDatetime
    due_at: AwareDatetime
    on_time: bool
    met_by_agency_id: str | None = None
    met_by_platform: bool = False


class ObligationDueSoon(Event):
    """An open obligation reached its due-soon point (a warning, once)."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_due_soon"

    obligation_id: UUID
    code: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    due_at: AwareDatetime


class ObligationBreached(Event):
    """An obligation was not met by its due time (emitted once, at due_at)."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_breached"

    obligation_id: UUID
    code: str
    legal_basis: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    region: str | None = None
    due_at: AwareDatetime
    breached_at: AwareDatetime


class ObligationEscalated(Event):
    """A breach opened an escalation obligation for the supervising body.

    Deadlines names the supervising agency type and region; routing, which owns the directory,
    delivers the escalation to that agency's subject.
    """

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_escalated"

    obligation_id: UUID
    escalation_obligation_id: UUID
    code: str
    legal_basis: str
    level: int
    supervisor_agency_type: str
    region: str | None = None
    due_at: AwareDatetime
