"""Event contracts shared by services: the envelope, subjects and the events themselves.

Events carry ids, codes, dates, flags and agency ids: never a name, an IIN, an address, a
birth date, a school name or a narrative (Rules 38874 p.33-34).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SUBJECT_TOKEN = re.compile(r"^[a-z0-9_-]+$")


def agency_subject(agency_id: str, event: str, version: int = 1) -> str:
    """Return the subject on which an agency receives its work."""
    if not SUBJECT_TOKEN.match(agency_id):
        raise ValueError(f"agency_id {agency_id!r} is not a valid subject token")
    return f"qorgau.agency.{agency_id}.{event}.v{version}"


class Event(BaseModel):
    """The envelope every event carries; subclasses add their own fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    SERVICE: ClassVar[str] = ""
    NAME: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime
    case_id: UUID | None = None
    correlation_id: UUID
    causation_id: UUID | None = None
    schema_version: int = 1
    producer: str = ""
    agency_id: str | None = None

    @classmethod
    def subject(cls, service: str | None = None) -> str:
        """Return the subject this event is published on (by its own or another service)."""
        return f"qorgau.{service or cls.SERVICE}.{cls.NAME}.v{cls.VERSION}"

    def follow(self) -> dict[str, object]:
        """Return envelope fields for an event caused by this one."""
        return {
            "case_id": self.case_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.event_id,
        }


class Concern(StrEnum):
    """What the report is about (ARCHITECTURE public contract)."""

    VIOLENCE = "violence"
    CRUELTY = "cruelty"
    BULLYING = "bullying"
    WITNESSED_VIOLENCE = "witnessed_violence"
    DOMESTIC_VIOLENCE = "domestic_violence"


class Sign(StrEnum):
    """Signs of violence (Rules 38874 p.7)."""

    INJURIES = "injuries"
    BEHAVIOUR_CHANGE = "behaviour_change"
    ANXIETY = "anxiety"
    DEPRESSION = "depression"
    SOCIAL_ISOLATION = "social_isolation"
    TRUANCY = "truancy"


class Channel(StrEnum):
    """How the reporter learned of the case (Rules 38874 p.4, Family Centre Rules p.12)."""

    DUTIES = "duties"
    RECEPTION = "reception"
    APPLICATION = "application"
    INFORMANT = "informant"
    MEDIA = "media"
    CONTACT_CENTRE = "contact_centre"
    INFORMATION_SYSTEM = "information_system"


class SubjectKind(StrEnum):
    """Whether the person the report is about is a minor or an adult."""

    MINOR = "minor"
    ADULT = "adult"


class Flags(BaseModel):
    """Facts of a report that change which rows apply."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    life_threat: bool = False
    needs_medical_help: bool = False
    offence_signs: bool = False
    no_parental_care: bool = False
    child_removed: bool = False
    accompanying_minors: int = Field(default=0, ge=0)


class ReportReceived(Event):
    """Intake registered a report (a new case, or a report joined to an open one)."""

    SERVICE: ClassVar[str] = "intake"
    NAME: ClassVar[str] = "report_received"

    report_id: UUID
    reporter_agency_type: str
    reporter_agency_id: str | None = None
    region: str
    channel: Channel
    received_at: AwareDatetime
    subject_kind: SubjectKind
    # An age band, not a birth date: G9 needs only "under 3".
    under_three: bool = False
    concerns: tuple[Concern, ...]
    signs: tuple[Sign, ...] = ()
    flags: Flags = Flags()


class ReportJoined(Event):
    """A later report on the same person joined an open case (no second round of notices)."""

    SERVICE: ClassVar[str] = "intake"
    NAME: ClassVar[str] = "report_joined"

    report_id: UUID
    reporter_agency_type: str
    reporter_agency_id: str | None = None
    region: str
    received_at: AwareDatetime
    concerns: tuple[Concern, ...]
    flags: Flags = Flags()


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
