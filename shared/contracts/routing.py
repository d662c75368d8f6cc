"""Events routing publishes (besides the obligation contract it shares with other services).

Also the two answers an agency's own system publishes to routing over NATS, on its own subjects
(`qorgau.agency.<agency_id>.referral_acknowledged.v1` / `referral_declined.v1`, AGENCY stream):
the subject names the answering agency, so a NATS user allowed only its own subjects can answer
only its own referrals.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.contracts.envelope import Event


class ReferralPurpose(StrEnum):
    """Why a case is delivered to an agency."""

    # A row transfers the case to the agency (R1, R6, R7, ...).
    TRANSFER = "transfer"
    # The agency must act under a row (G8, G9, R10 on a later report, ...): it is told so.
    ACTION = "action"
    # Nobody (else) of the type the row names is left: the supervising body is asked to act.
    ESCALATION = "escalation"
    # A line of a rehabilitation plan the child-rights body gave the agency (R20, Appendix 2):
    # its due date is the agency's obligation, opened by casework.
    PLAN_LINE = "plan_line"


class DeclineReason(StrEnum):
    """Why an agency declines a referral: codes only, never free text (no personal data)."""

    NOT_COMPETENT = "not_competent"
    WRONG_REGION = "wrong_region"
    WRONG_DISTRICT = "wrong_district"
    DUPLICATE = "duplicate"
    NO_CAPACITY = "no_capacity"
    CONFLICT_OF_INTEREST = "conflict_of_interest"
    OTHER = "other"


class CarriedRow(BaseModel):
    """A row a referral carries to its agency, with its clause and its own obligation."""

    model_config = ConfigDict(frozen=True)

    code: str
    legal_basis: str
    obligation_id: UUID | None = None


class ReferralIssued(Event):
    """Routing delivered a case to an agency, citing the row and clause that require it."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_issued"

    referral_id: UUID
    report_id: UUID | None = None
    code: str
    legal_basis: str
    from_agency_type: str
    from_agency_id: str | None = None
    to_agency_type: str
    to_agency_id: str
    region: str
    issued_at: AwareDatetime
    purpose: ReferralPurpose = ReferralPurpose.TRANSFER
    # The agency type the receiving agency stands for (e.g. guardianship acting for the
    # regional child-rights body, Rules 38874 p.8), when that differs from its own type.
    acting_for: str | None = None
    # The obligation this delivery carries out (a transfer) or asks the agency to meet (action).
    obligation_id: UUID | None = None
    # The referral this one replaces after a decline, when it is a re-route or an escalation.
    replaces_referral_id: UUID | None = None
    # The deadlines obligation whose breach this escalation reports.
    escalation_obligation_id: UUID | None = None
    # Past this time an unanswered referral raises referral_unacknowledged.
    ack_due_at: AwareDatetime | None = None
    # Every row this one delivery carries (several rows sending the case to one agency at
    # once give one referral), the first being `code`; each row stays its own obligation.
    rows: tuple[CarriedRow, ...] = ()


class ReferralAcknowledged(Event):
    """The receiving agency accepted a referral."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_acknowledged"

    referral_id: UUID
    code: str
    to_agency_type: str
    to_agency_id: str
    acknowledged_at: AwareDatetime
    # "http" or "nats": how the answer reached the platform.
    via: str


class ReferralDeclined(Event):
    """The receiving agency declined a referral (a reason code); it is re-routed or escalated."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_declined"

    referral_id: UUID
    code: str
    to_agency_type: str
    to_agency_id: str
    reason: DeclineReason
    declined_at: AwareDatetime
    via: str


class ReferralRerouted(Event):
    """A declined referral went to another agency of the type (or the type that stands in)."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_rerouted"

    declined_referral_id: UUID
    new_referral_id: UUID
    code: str
    declined_by_agency_id: str
    to_agency_type: str
    to_agency_id: str
    acting_for: str | None = None
    region: str


class ReferralEscalated(Event):
    """No agency of the type was left (declines, or none in the region): a supervisor is asked.

    `cause` is "declined" (every agency of the type declined), "no_agency" (the region has
    none, active, of the type or the type standing in) or "obligation_breached" (deadlines
    escalated a breach to the supervising body).
    """

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_escalated"

    new_referral_id: UUID
    declined_referral_id: UUID | None = None
    code: str
    cause: str
    # The agency type nobody was found for, or the type that declined.
    unresolved_agency_type: str
    to_agency_type: str
    to_agency_id: str
    region: str


class ReferralUnacknowledged(Event):
    """A referral stayed unanswered past the deployment's acknowledgement time (once each)."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_unacknowledged"

    referral_id: UUID
    code: str
    to_agency_type: str
    to_agency_id: str
    region: str
    issued_at: AwareDatetime
    ack_due_at: AwareDatetime


class ReferralAnswerRejected(Event):
    """An agency's answer over NATS could not be applied (unknown referral, not its own, ...)."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_answer_rejected"

    referral_id: UUID
    answering_agency_id: str
    answer: str
    # "unknown_referral", "not_addressee", "illegal_transition" or "no_agency_left".
    problem: str
    status: str | None = None


class DirectoryEntry(Event):
    """The state of one directory entry, as the directory events carry it."""

    # The agency the entry describes (the envelope's agency_id names a producer, if any).
    directory_agency_id: str
    agency_type: str
    region: str | None = None
    district: str | None = None
    name_kk: str
    name_ru: str
    name_en: str
    active: bool


class AgencyRegistered(DirectoryEntry):
    """An agency was added to the directory."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "agency_registered"


class AgencyChanged(DirectoryEntry):
    """An agency of the directory changed (incl. deactivated); the event carries its new state."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "agency_changed"

    changed: tuple[str, ...] = ()


class AgencyAcknowledgement(Event):
    """An agency's system accepts a referral (published by the agency on its own subject)."""

    SERVICE: ClassVar[str] = "agency"
    NAME: ClassVar[str] = "referral_acknowledged"

    referral_id: UUID


class AgencyDecline(Event):
    """An agency's system declines a referral with a reason code (on its own subject)."""

    SERVICE: ClassVar[str] = "agency"
    NAME: ClassVar[str] = "referral_declined"

    referral_id: UUID
    reason: DeclineReason
