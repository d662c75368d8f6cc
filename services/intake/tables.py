"""Intake's tables. Personal data columns hold ciphertext (shared.crypto), never clear text."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime

AWARE = AwareDateTime()


class Case(SQLModel, table=True):
    """A case: one person, any number of reports while it is open."""

    __tablename__ = "intake_cases"

    case_id: str = Field(primary_key=True, max_length=36)
    case_number: str = Field(max_length=40, unique=True)
    region: str = Field(max_length=10)
    subject_kind: str = Field(max_length=10)
    status: str = Field(default="open", max_length=20)
    opened_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]


class Subject(SQLModel, table=True):
    """The person a case is about; every personal field is encrypted."""

    __tablename__ = "intake_subjects"

    subject_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="intake_cases.case_id", index=True, max_length=36)
    kind: str = Field(max_length=10)
    full_name: str | None = None
    birth_date: str | None = None
    iin: str | None = None
    sex: str | None = None
    address: str | None = None
    # Keyed hashes let intake find the same person without keeping an IIN in clear.
    iin_hash: str | None = Field(default=None, index=True, max_length=64)
    identity_hash: str | None = Field(default=None, index=True, max_length=64)


class Report(SQLModel, table=True):
    """One report as received; a case may hold several."""

    __tablename__ = "intake_reports"

    report_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="intake_cases.case_id", index=True, max_length=36)
    reporter_agency_type: str = Field(max_length=40)
    reporter_agency_id: str | None = Field(default=None, max_length=80)
    region: str = Field(max_length=10)
    channel: str = Field(max_length=30)
    received_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    registered_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    concerns: str
    signs: str
    flags: str
    narrative: str | None = None
    joined: bool = False
    # The clause that let intake pass the report on without anyone's consent (shared.consent).
    forwarded_under: str | None = Field(default=None, max_length=80)


class DuplicateCandidate(SQLModel, table=True):
    """A possible duplicate: a later case whose subject shares an earlier one's name and birth.

    Never joined silently: the receiving body's head confirms (the later case joins the
    earlier one) or rejects it.
    """

    __tablename__ = "intake_duplicate_candidates"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "earlier_case_id", name="uq_intake_duplicate_pair"),
    )

    candidate_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="intake_cases.case_id", index=True, max_length=36)
    earlier_case_id: str = Field(foreign_key="intake_cases.case_id", index=True, max_length=36)
    basis: str = Field(max_length=40)
    status: str = Field(default="open", max_length=20)
    found_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    decided_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    decided_by_agency_id: str | None = Field(default=None, max_length=80)


class CaseAccess(SQLModel, table=True):
    """One relation of an agency to a case, learned from an event or a report it made."""

    __tablename__ = "case_access"

    case_id: str = Field(primary_key=True, max_length=36)
    # Indexed as the migration made it: an agency's cases are found by agency.
    agency_id: str = Field(primary_key=True, max_length=80, index=True)
    relation: str = Field(primary_key=True, max_length=20)
    source: str = Field(max_length=80)
    granted_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]


class CaseCounter(SQLModel, table=True):
    """The last case number given in a region and year; the next case takes the one after."""

    __tablename__ = "intake_case_counters"

    region: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    last_number: int


class CaseLink(SQLModel, table=True):
    """A child's case linked to the case of the adult victim it came with (ids only)."""

    __tablename__ = "intake_case_links"

    adult_case_id: str = Field(foreign_key="intake_cases.case_id", primary_key=True, max_length=36)
    child_case_id: str = Field(
        foreign_key="intake_cases.case_id", primary_key=True, index=True, max_length=36
    )
    # Whether intake knew the child's identity; an unidentified child is to be identified by
    # the bodies that receive the case (Rules 38874 p.12.3, p.21).
    identified: bool = True
    report_id: str = Field(max_length=36)
    linked_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
