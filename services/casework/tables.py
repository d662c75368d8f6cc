"""Casework's tables. Columns holding what a person wrote are ciphertext (shared.crypto)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime
from shared.obligationsview import DirectoryColumns, ObligationColumns
from shared.settlements import PendingSettlementColumns

AWARE = AwareDateTime()


class CaseworkObligation(ObligationColumns, table=True):
    """An obligation casework knows (routing's, or a plan line's it opened), and its state."""

    __tablename__ = "casework_obligations"

    target_agency_id: str | None = Field(default=None, max_length=80)
    met_by_platform: bool = False
    # The plan line this obligation carries, when casework opened it for a plan.
    plan_line_id: str | None = Field(default=None, index=True, max_length=36)


class CaseworkAction(SQLModel, table=True):
    """Work an agency recorded on an obligation: when, who (a person id), what, with proof."""

    __tablename__ = "casework_actions"

    action_id: str = Field(primary_key=True, max_length=36)
    obligation_id: str = Field(index=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    code: str = Field(max_length=10)
    agency_id: str = Field(max_length=80)
    # The token's subject (or the agency system's person id over NATS): never a name.
    person_id: str = Field(max_length=120)
    role: str = Field(max_length=20)
    done_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    recorded_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    outcome: str = Field(max_length=20)
    # What was done, as the person wrote it: encrypted.
    summary: str | None = None
    # JSON of the document numbers and dates the row asks for (EVIDENCE): encrypted.
    evidence: str | None = None
    # draft | approved
    status: str = Field(max_length=20)
    via: str = Field(max_length=10)
    approved_by: str | None = Field(default=None, max_length=120)
    approved_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class CaseworkCase(SQLModel, table=True):
    """A case at the child-rights body (or the guardianship body standing in): its caseload."""

    __tablename__ = "casework_cases"

    case_id: str = Field(primary_key=True, max_length=36)
    correlation_id: str = Field(max_length=36)
    body_agency_id: str = Field(index=True, max_length=80)
    body_agency_type: str = Field(max_length=40)
    region: str = Field(max_length=10)
    arrived_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    referral_id: str = Field(max_length=36)
    # open | closed
    status: str = Field(default="open", max_length=20)
    closed_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    closed_by: str | None = Field(default=None, max_length=120)
    close_grounds: str | None = Field(default=None, max_length=40)
    # What the head wrote of the grounds: encrypted.
    close_note: str | None = None


class ManagerAssignment(SQLModel, table=True):
    """One assignment of a case manager (a person id); a reassignment ends the one before."""

    __tablename__ = "casework_manager_assignments"

    assignment_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    person_id: str = Field(max_length=120)
    assigned_by: str = Field(max_length=120)
    assigned_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    ended_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class PlanLineRow(SQLModel, table=True):
    """A line of a plan given to an agency: the obligation opened on it and what it reported."""

    __tablename__ = "casework_plan_lines"
    __table_args__ = (sa.UniqueConstraint("plan_id", "line_id", name="uq_casework_plan_line"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(index=True, max_length=36)
    line_id: str = Field(max_length=36)
    case_id: str = Field(index=True, max_length=36)
    kind: str = Field(max_length=40)
    agency_id: str = Field(index=True, max_length=80)
    agency_type: str = Field(max_length=40)
    assigned_on: date
    due_on: date
    obligation_id: str = Field(max_length=36)


class PendingSettlement(PendingSettlementColumns, table=True):
    """A settlement of routing's that came before its obligation's opening, kept until then."""

    __tablename__ = "casework_pending_settlements"


class DirectoryAgency(DirectoryColumns, table=True):
    """An agency of routing's directory, as its events (and the shipped seed) describe it."""

    __tablename__ = "casework_agencies"


class AssessmentRow(SQLModel, table=True):
    """A case's primary assessment (R19, Appendix 1): its versions, encrypted as one document."""

    __tablename__ = "casework_assessments"

    assessment_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(unique=True, max_length=36)
    # The newest version's number and status (draft | approved), readable without the key.
    version: int
    status: str = Field(max_length=20)
    approved_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # shared: the Assessment with every version, as JSON, encrypted (child's data, needs).
    document: str


class PlanRow(SQLModel, table=True):
    """A case's rehabilitation plan (R20, Appendix 2): its versions, encrypted as one document."""

    __tablename__ = "casework_plans"

    plan_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    kind: str = Field(max_length=40)
    # The agency that draws it up and whose head approves it: the child-rights body (R20), or
    # the education organisation (its work plan, Guide p.9).
    owner_agency_id: str = Field(max_length=80)
    version: int
    status: str = Field(max_length=20)
    approved_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # The Plan with every version, outcome and monitoring entry, as JSON, encrypted (consent
    # names, activities and results may name people).
    document: str


class DueTime(SQLModel, table=True):
    """When an obligation is due and whether it breached, as deadlines counted it.

    Kept apart from the obligation: deadlines' events may arrive before casework learns of the
    obligation itself (another stream), and they are about obligations of every producer.
    """

    __tablename__ = "casework_due_times"

    obligation_id: str = Field(primary_key=True, max_length=36)
    due_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    breached_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
