"""The family centre's tables. Columns holding personal data or what a person said are
ciphertext (shared.crypto); ids, codes, dates and counts are plain."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime
from shared.obligationsview import DirectoryColumns, ObligationColumns
from shared.settlements import PendingSettlementColumns

AWARE = AwareDateTime()


class CentreObligation(ObligationColumns, table=True):
    """An obligation the centre opened, or routing's the centre owes (F7, F8), and its state."""

    __tablename__ = "familycentre_obligations"

    # The plan line this obligation carries (a state body's line, an emergency measure).
    plan_id: str | None = Field(default=None, index=True, max_length=36)
    line_id: str | None = Field(default=None, max_length=36)


class Appeal(SQLModel, table=True):
    """An appeal from a channel of p.12 and where it stands (F1-F4)."""

    __tablename__ = "familycentre_appeals"

    appeal_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    correlation_id: str = Field(max_length=36)
    centre_agency_id: str = Field(index=True, max_length=80)
    region: str = Field(max_length=10)
    channel: str = Field(max_length=40)
    received_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_by: str = Field(max_length=120)
    threat_to_life: bool = False
    domestic_violence: bool = False
    # The routing referral the appeal came by (R13 and others), when it did.
    referral_id: str | None = Field(default=None, max_length=36)
    consent_given_on: date | None = None
    # The person (name, IIN, birth date, contacts) and what they told, JSON, encrypted.
    person: str | None = None
    summary: str | None = None
    stage: str = Field(default="received", max_length=20)
    response_kind: str | None = Field(default=None, max_length=40)
    redirected_to: str | None = Field(default=None, max_length=80)
    responded_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    assessed_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    difficult_situation: bool | None = None
    # The assessment and the emergency measures (JSON, encrypted).
    assessment: str | None = None
    needs_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    needs: str | None = None
    group_id: str | None = Field(default=None, max_length=36)
    engaged_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    shelter_agency_id: str | None = Field(default=None, max_length=80)
    shelter_referred_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class CentrePlan(SQLModel, table=True):
    """An individual work plan (F5) or emergency response plan (F7), encrypted as one document."""

    __tablename__ = "familycentre_plans"

    plan_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    appeal_id: str = Field(index=True, max_length=36)
    centre_agency_id: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    version: int
    status: str = Field(max_length=20)
    approved_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    ended_ground: str | None = Field(default=None, max_length=40)
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    document: str


class MobileGroup(SQLModel, table=True):
    """A mobile group approved by the akim's order for one calendar year (p.21)."""

    __tablename__ = "familycentre_mobile_groups"

    group_id: str = Field(primary_key=True, max_length=36)
    centre_agency_id: str = Field(index=True, max_length=80)
    coordinator_agency_id: str = Field(max_length=80)
    year: int
    order_ref: str = Field(max_length=120)
    order_date: date
    # The members (names, positions, agency types), JSON, encrypted.
    members: str
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]


class Stay(SQLModel, table=True):
    """A temporary stay at the centre (p.23.5, p.25), with the children admitted (p.26)."""

    __tablename__ = "familycentre_stays"

    stay_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    appeal_id: str | None = Field(default=None, max_length=36)
    centre_agency_id: str = Field(index=True, max_length=80)
    region: str = Field(max_length=10)
    basis: str = Field(max_length=40)
    room: str = Field(max_length=40)
    admitted_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    until: date
    left_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    accompanying_minors: int = 0
    # The person and the children (names, birth dates), JSON, encrypted.
    people: str
    # The case intake keeps on the person and the children's own cases (minors who witnessed
    # violence, Rules 38874), once intake has taken the centre's report: ids only, JSON.
    intake_case_id: str | None = Field(default=None, max_length=36)
    child_case_ids: str | None = None


class Room(SQLModel, table=True):
    """A room of the centre's temporary stays and the places it has (occupancy is counted)."""

    __tablename__ = "familycentre_rooms"

    centre_agency_id: str = Field(primary_key=True, max_length=80)
    room: str = Field(primary_key=True, max_length=40)
    capacity: int
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]


class IntakeReport(SQLModel, table=True):
    """A report the centre owes intake (the children admitted with a person, p.26), kept until
    intake has taken it and retried until then."""

    __tablename__ = "familycentre_intake_reports"

    report_key: str = Field(primary_key=True, max_length=36)
    stay_id: str = Field(index=True, max_length=36)
    created_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    sent_at: datetime | None = Field(default=None, index=True, sa_type=AWARE)  # type: ignore[call-overload]
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    intake_case_id: str | None = Field(default=None, max_length=36)
    intake_report_id: str | None = Field(default=None, max_length=36)
    # Set once the children's case ids are read back from intake (JSON list of ids).
    child_case_ids: str | None = None
    # The report's body as intake's contract writes it (personal data), JSON, encrypted.
    payload: str


class SupportMeasure(SQLModel, table=True):
    """A support measure of p.23 given to a person with signs of domestic violence."""

    __tablename__ = "familycentre_support_measures"

    measure_id: str = Field(primary_key=True, max_length=36)
    appeal_id: str = Field(index=True, max_length=36)
    case_id: str = Field(max_length=36)
    centre_agency_id: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    provided_on: date
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_by: str = Field(max_length=120)
    # What was given, as the employee wrote it, encrypted.
    note: str | None = None


class PendingSettlement(PendingSettlementColumns, table=True):
    """A settlement of routing's that came before its obligation's opening, kept until then."""

    __tablename__ = "familycentre_pending_settlements"


class DirectoryAgency(DirectoryColumns, table=True):
    """An agency of routing's directory, replicated: the organisations a plan line may name."""

    __tablename__ = "familycentre_agencies"
