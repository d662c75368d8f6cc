"""Events the deadlines service publishes.

Besides these, deadlines publishes the shared `ObligationCancelled` (shared.contracts.obligations)
under its own subject, `qorgau.deadlines.obligation_cancelled.v1`, whenever it stops watching an
obligation: the producer withdrew it, or an escalation became moot because the escalated
obligation was met or cancelled.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event


class ObligationScheduled(Event):
    """Deadlines counted an obligation's term and now watches its due time.

    `due_at` is None for a row whose text sets no term (term "none"): the obligation is tracked
    and listed, but never falls due. A recurring duty is one obligation per occurrence; each
    carries the producer's `series_id` and its `occurrence` number (1, 2, ...).
    """

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_scheduled"

    obligation_id: UUID
    code: str
    legal_basis: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    due_at: AwareDatetime | None = None
    term: str | None = None
    warn_at: AwareDatetime | None = None
    region: str | None = None
    series_id: UUID | None = None
    occurrence: int = 0
    escalation_level: int = 0


class ObligationMet(Event):
    """Deadlines recorded an obligation as met, on time or late."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_met"

    obligation_id: UUID
    code: str
    met_at: AwareDatetime
    # None for an obligation whose text sets no term: it cannot be late.
    due_at: AwareDatetime | None = None
    on_time: bool
    met_by_agency_id: str | None = None
    met_by_platform: bool = False
    series_id: UUID | None = None
    occurrence: int = 0
    # Met after it was breached: the breach stays on record, and so does this.
    was_breached: bool = False


class ObligationDueSoon(Event):
    """An open obligation reached its due-soon point (a warning, once)."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_due_soon"

    obligation_id: UUID
    code: str
    actor_agency_type: str
    actor_agency_id: str | None = None
    due_at: AwareDatetime
    warn_at: AwareDatetime | None = None
    region: str | None = None
    escalation_level: int = 0


class ObligationBreached(Event):
    """An obligation was not met by its due time (emitted once, at due_at).

    `breached_at` is the due time (when the term ran out); `detected_at` is when the poller
    fired, so `detected_at - breached_at` is the lateness of the timer. When the breach opens an
    escalation, `escalated_to_agency_type` names the supervisor; when the chain has no higher
    body, `escalation_chain_ended` says so and nothing more is opened.
    """

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
    detected_at: AwareDatetime | None = None
    escalation_level: int = 0
    escalated_to_agency_type: str | None = None
    escalation_chain_ended: bool = False
    # The clause of the ladder's step to the supervisor (None when the chain ended).
    escalation_legal_basis: str | None = None


class ObligationEscalated(Event):
    """A breach opened an escalation obligation for the supervising body.

    Deadlines names the supervising agency type and region; routing, which owns the directory,
    delivers the escalation to that agency's subject. `obligation_id` is the breached obligation
    (itself an escalation from level 2 on); `root_obligation_id` is the original duty.
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
    term: str | None = None
    root_obligation_id: UUID | None = None
    breached_actor_agency_type: str | None = None
    breached_actor_agency_id: str | None = None
    # The clause of this step of the ladder (`legal_basis` stays the breached duty's clause).
    escalation_legal_basis: str | None = None


class ObligationRescheduled(Event):
    """The calendar changed (a government day transfer) and an open obligation's due time moved."""

    SERVICE: ClassVar[str] = "deadlines"
    NAME: ClassVar[str] = "obligation_rescheduled"

    obligation_id: UUID
    code: str
    previous_due_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    warn_at: AwareDatetime | None = None
    reason: str
