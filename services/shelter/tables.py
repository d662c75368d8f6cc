"""Shelter's tables. Columns holding personal data or what a person wrote are ciphertext
(shared.crypto); codes, ids, states and times are readable."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime

AWARE = AwareDateTime()


class ShelterStay(SQLModel, table=True):
    """One person's stay at a shelter (an adult, or a child admitted with a parent, p.26-27)."""

    __tablename__ = "shelter_stays"

    stay_id: str = Field(primary_key=True, max_length=36)
    # The case the stay's obligations belong to: the referral's, or one the shelter opens on
    # a personal application; a child's is the case intake opens for the child.
    case_id: str | None = Field(default=None, index=True, max_length=36)
    correlation_id: str = Field(max_length=36)
    shelter_agency_id: str = Field(index=True, max_length=80)
    region: str = Field(max_length=10)
    # application | referral
    arrival: str = Field(max_length=20)
    referral_id: str | None = Field(default=None, max_length=36)
    referred_by_type: str | None = Field(default=None, max_length=40)
    referred_by_id: str | None = Field(default=None, max_length=80)
    # A child admitted with a parent is a recipient of its own, linked to the parent's stay.
    parent_stay_id: str | None = Field(default=None, index=True, max_length=36)
    minor: bool = False
    status: str = Field(max_length=30)
    # Each admission after treatment (p.13) opens the arrival rows afresh.
    admission: int = 1
    arrived_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    consent_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    refuses_police: bool = False
    # The adult's case at intake, once the shelter's report is taken (children, p.35).
    intake_case_id: str | None = Field(default=None, max_length=36)
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # The person's data (Appendix 4 and 7: name, birth date, IIN, sex, address), JSON, encrypted.
    personal: str


class ShelterObligation(SQLModel, table=True):
    """An obligation the shelter opened (its rows and social protection's S7/S8), and its state."""

    __tablename__ = "shelter_obligations"

    obligation_id: str = Field(primary_key=True, max_length=36)
    stay_id: str = Field(index=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=200)
    actor_agency_type: str = Field(max_length=40)
    actor_agency_id: str | None = Field(default=None, index=True, max_length=80)
    region: str | None = Field(default=None, max_length=10)
    term: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # open | met | cancelled
    status: str = Field(default="open", max_length=20)
    met_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_by_agency_id: str | None = Field(default=None, max_length=80)
    cancel_reason: str | None = Field(default=None, max_length=200)


class ShelterRecord(SQLModel, table=True):
    """One step recorded on a stay (screening, general services, the sheet, the decision...)."""

    __tablename__ = "shelter_records"

    record_id: str = Field(primary_key=True, max_length=36)
    stay_id: str = Field(index=True, max_length=36)
    kind: str = Field(max_length=30)
    # A code of what came of it (recognised, granted, a contraindication found): no free text.
    outcome: str | None = Field(default=None, max_length=40)
    legal_basis: str = Field(max_length=200)
    at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # The token's subject: a person id, never a name.
    person_id: str = Field(max_length=120)
    agency_id: str = Field(max_length=80)
    # The step's details (criteria, signatures, health findings, numbers), JSON, encrypted.
    details: str | None = None


class ShelterReferral(SQLModel, table=True):
    """A referral routing delivered to one of the shelters (S1, F8), until the person arrives."""

    __tablename__ = "shelter_referrals"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(max_length=36)
    correlation_id: str = Field(max_length=36)
    code: str = Field(max_length=10)
    from_agency_type: str = Field(max_length=40)
    from_agency_id: str | None = Field(default=None, max_length=80)
    shelter_agency_id: str = Field(index=True, max_length=80)
    region: str = Field(max_length=10)
    issued_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    stay_id: str | None = Field(default=None, max_length=36)


class IntakeReport(SQLModel, table=True):
    """A report the shelter owes intake, kept until intake has taken it (retried until then)."""

    __tablename__ = "shelter_intake_reports"

    report_key: str = Field(primary_key=True, max_length=36)
    stay_id: str = Field(index=True, max_length=36)
    # children | refuses_police
    reason: str = Field(max_length=30)
    created_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    sent_at: datetime | None = Field(default=None, index=True, sa_type=AWARE)  # type: ignore[call-overload]
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=200)
    intake_case_id: str | None = Field(default=None, max_length=36)
    intake_report_id: str | None = Field(default=None, max_length=36)
    # The children's stays, in the order the report names the children (ids only, JSON): intake
    # answers their cases in that order and each child's stay takes its own.
    child_stay_ids: str | None = None
    # The report's body as intake's contract writes it (personal data), JSON, encrypted.
    payload: str


class ShelterPlan(SQLModel, table=True):
    """A recipient's individual work plan (S14, Appendix 1) on the shared plan model: its
    versions, monitoring (Appendix 2) and ending, encrypted as one document."""

    __tablename__ = "shelter_plans"

    plan_id: str = Field(primary_key=True, max_length=36)
    stay_id: str = Field(index=True, max_length=36)
    # The newest version's number and status (draft | approved | ended), readable without the key.
    version: int
    status: str = Field(max_length=20)
    approved_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    document: str


class ShelterCapacity(SQLModel, table=True):
    """A shelter's beds and staff as its head reports them (Appendix 3); occupancy is counted."""

    __tablename__ = "shelter_capacity"

    agency_id: str = Field(primary_key=True, max_length=80)
    region: str = Field(max_length=10)
    beds: int
    # Staff by position of Appendix 3 (numbers, no names), JSON.
    staff: str = "{}"
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
