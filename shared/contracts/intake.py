"""Events intake publishes, and the vocabulary of a report (ARCHITECTURE public contract)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.envelope import Event


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
    # The person refuses to apply to the police (Standard 14701 p.35: the shelter tells them).
    refuses_police: bool = False
    # When the child was removed from the parents (Guide p.12.2, p.12.4 run from it).
    child_removed_at: AwareDatetime | None = None


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
    # A child who came with an adult victim (a minor who witnessed violence, Rules 38874 p.8):
    # the adult's case. On the adult's report, the cases of the children who came with them.
    adult_case_id: UUID | None = None
    child_case_ids: tuple[UUID, ...] = ()


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
    # As on report_received: the adult victim's case, or the children's cases.
    adult_case_id: UUID | None = None
    child_case_ids: tuple[UUID, ...] = ()
    # What the later report says of the person: the kind, and an age band, never a birth
    # date (G9 needs "under 3" whichever report tells it).
    subject_kind: SubjectKind | None = None
    under_three: bool = False


class DuplicateConfirmed(Event):
    """The receiving body's head confirmed two cases are one person: this case joins another.

    The envelope's case_id is the later case, which is closed as merged; work on it continues
    on merged_into_case_id. Ids only: the match itself (names, birth dates) stays in intake.
    """

    SERVICE: ClassVar[str] = "intake"
    NAME: ClassVar[str] = "duplicate_confirmed"

    candidate_id: UUID
    merged_into_case_id: UUID
    decided_by_agency_id: str
