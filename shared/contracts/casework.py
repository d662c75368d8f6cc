"""Events casework publishes, and the action an agency's own system publishes over NATS.

An agency records what it did on an obligation over HTTP or by publishing `AgencyObligationAction`
on its own subject, `qorgau.agency.<agency_id>.obligation_action.v1` (AGENCY stream): casework
reads the acting agency from the subject, as routing reads an answer's. Events carry ids, codes,
dates and document numbers, never a name or a narrative (Rules 38874 p.33-34): what a person
wrote about the work stays in casework's database, encrypted.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event

# A document number or a date as the evidence gives it: short, printable, no personal data.
EvidenceValue = str


class ActionOutcome(StrEnum):
    """What an agency reports of its duty: done, or (a plan line) not done."""

    DONE = "done"
    NOT_DONE = "not_done"


class NotDoneReason(StrEnum):
    """Why a plan line was not done, as a code (free text over NATS could carry personal data)."""

    FAMILY_REFUSED = "family_refused"
    NOT_REACHABLE = "not_reachable"
    NO_CAPACITY = "no_capacity"
    NOT_COMPETENT = "not_competent"
    OTHER = "other"


class AgencyObligationAction(Event):
    """An agency's system records work on one of its obligations (on its own subject)."""

    SERVICE: ClassVar[str] = "agency"
    NAME: ClassVar[str] = "obligation_action"

    obligation_id: UUID
    done_at: AwareDatetime
    # The person who did it, as the agency's own system identifies them: an id, never a name.
    person_id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")
    outcome: ActionOutcome = ActionOutcome.DONE
    # The proof the row asks for (shared in casework.domain.EVIDENCE): numbers and dates only.
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    # With `not_done`: why, as a code.
    reason: NotDoneReason | None = None


class ObligationActionRecorded(Event):
    """An agency recorded work on an obligation: final, or a draft waiting for its head."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "obligation_action_recorded"

    action_id: UUID
    obligation_id: UUID
    code: str
    legal_basis: str
    acting_agency_id: str
    done_at: AwareDatetime
    outcome: ActionOutcome
    # "draft" (a caseworker's, waiting for the head's approval) or "approved".
    status: str
    via: str
    evidence_kinds: tuple[str, ...] = ()


class ObligationActionApproved(Event):
    """The head approved a caseworker's draft action; the obligation is met from its done time."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "obligation_action_approved"

    action_id: UUID
    obligation_id: UUID
    code: str
    acting_agency_id: str
    approved_at: AwareDatetime


class ObligationActionRejected(Event):
    """An action over NATS could not be recorded; delivered to the agency that sent it."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "obligation_action_rejected"

    obligation_id: UUID
    acting_agency_id: str
    # "unknown_obligation", "not_actor", "illegal_transition", "invalid".
    problem: str
    field: str | None = None
    message: str


class CaseArrived(Event):
    """A case reached a regional child-rights body (or the guardianship body standing in)."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "case_arrived"

    body_agency_id: str
    body_agency_type: str
    region: str
    arrived_at: AwareDatetime
    referral_id: UUID


class CaseManagerAssigned(Event):
    """The body assigned (or reassigned) the case manager (Rules 38874 p.12.2, R8)."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "case_manager_assigned"

    assignment_id: UUID
    body_agency_id: str
    assigned_at: AwareDatetime
    replaces_assignment_id: UUID | None = None


class PlanLineAssigned(Event):
    """A line of a rehabilitation plan went to another agency: routing delivers it as work."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "plan_line_assigned"

    plan_id: UUID
    line_id: UUID
    obligation_id: UUID
    code: str
    legal_basis: str
    kind: str
    from_agency_id: str
    to_agency_id: str
    to_agency_type: str
    region: str
    due_on: date


class CaseClosed(Event):
    """The body's head closed the case with its grounds; open obligations were cancelled."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "case_closed"

    body_agency_id: str
    grounds: str
    legal_basis: str
    closed_at: AwareDatetime
    cancelled_obligations: int


class AssessmentApproved(Event):
    """The head approved a version of the primary assessment (R19, Rules 38874 p.21)."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "assessment_approved"

    assessment_id: UUID
    version: int
    body_agency_id: str
    approved_at: AwareDatetime


class PlanApproved(Event):
    """The head approved a version of a plan: the rehabilitation plan (R20, Rules 38874 p.22)
    or an education organisation's work plan (Guide p.9)."""

    SERVICE: ClassVar[str] = "casework"
    NAME: ClassVar[str] = "plan_approved"

    plan_id: UUID
    kind: str
    legal_basis: str
    version: int
    owner_agency_id: str
    approved_at: AwareDatetime
    lines: int
    lines_for_other_agencies: int
