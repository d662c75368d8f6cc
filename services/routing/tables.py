"""Routing's tables: the agency directory, the cases it routes, referrals and obligations."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime

AWARE = AwareDateTime()


class AgencyRow(SQLModel, table=True):
    """An agency of the directory."""

    __tablename__ = "routing_agencies"

    agency_id: str = Field(primary_key=True, max_length=80)
    agency_type: str = Field(index=True, max_length=40)
    region: str | None = Field(default=None, index=True, max_length=10)
    district: str | None = Field(default=None, max_length=120)
    name_kk: str = Field(max_length=300)
    name_ru: str = Field(max_length=300)
    name_en: str = Field(max_length=300)
    active: bool = True


class RoutingCase(SQLModel, table=True):
    """What routing knows of a case: codes and flags of its reports, never personal data."""

    __tablename__ = "routing_cases"

    case_id: str = Field(primary_key=True, max_length=36)
    region: str = Field(max_length=10)
    subject_kind: str = Field(max_length=10)
    # JSON lists of codes: the union over the case's reports.
    concerns: str = "[]"
    flags: str = "[]"
    reporter_agency_type: str = Field(max_length=40)
    reporter_agency_id: str | None = Field(default=None, max_length=80)
    received_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    first_report_id: str = Field(max_length=36)
    opened_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # When the child was removed from the parents, as a report (or a later one) says.
    child_removed_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]


class Referral(SQLModel, table=True):
    """A case delivered to an agency under a row, and what the agency answered."""

    __tablename__ = "routing_referrals"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    report_id: str | None = Field(default=None, max_length=36)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=120)
    from_agency_type: str = Field(max_length=40)
    from_agency_id: str | None = Field(default=None, max_length=80)
    to_agency_type: str = Field(max_length=40)
    to_agency_id: str = Field(index=True, max_length=80)
    region: str = Field(max_length=10)
    status: str = Field(default="issued", max_length=20)
    issued_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    answered_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    decline_reason: str | None = Field(default=None, max_length=500)
    # transfer | action | escalation
    purpose: str = Field(default="transfer", max_length=20)
    # The type the receiving agency acts as (the row's type, which it may stand in for).
    role: str = Field(default="", max_length=40)
    answered_via: str | None = Field(default=None, max_length=10)
    # The first referral of a chain of re-routes and escalations, and the one this replaces.
    chain_id: str = Field(default="", index=True, max_length=36)
    replaces_referral_id: str | None = Field(default=None, max_length=36)
    obligation_id: str | None = Field(default=None, max_length=36)
    escalation_obligation_id: str | None = Field(default=None, max_length=36)
    ack_due_at: datetime | None = Field(default=None, sa_type=AWARE, index=True)  # type: ignore[call-overload]
    unacknowledged_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    # JSON list of the rows this delivery carries: code, legal_basis, obligation_id.
    rows: str = "[]"


class RoutingObligation(SQLModel, table=True):
    """An obligation routing opened for the deadlines service, and what became of it."""

    __tablename__ = "routing_obligations"
    __table_args__ = (sa.UniqueConstraint("case_id", "duty_key", name="uq_routing_duty"),)

    obligation_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    # The row, the actor and the target: a case owes each duty once.
    duty_key: str = Field(max_length=200)
    report_id: str | None = Field(default=None, max_length=36)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=120)
    kind: str = Field(max_length=20)
    actor_agency_type: str = Field(max_length=40)
    actor_agency_id: str | None = Field(default=None, max_length=80)
    target_agency_type: str | None = Field(default=None, max_length=40)
    target_agency_id: str | None = Field(default=None, max_length=80)
    region: str = Field(max_length=10)
    term: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    # open | met | cancelled
    status: str = Field(default="open", max_length=20)
    met_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_by_platform: bool = False
    met_by_agency_id: str | None = Field(default=None, max_length=80)
    # The referral through which the actor has the case: declined, it takes the duty along.
    via_referral_id: str | None = Field(default=None, index=True, max_length=36)


class ShelterPlaces(SQLModel, table=True):
    """A shelter's places as it last reported them (`capacity_changed`), to pass a full one over."""

    __tablename__ = "routing_shelter_places"

    agency_id: str = Field(primary_key=True, max_length=80)
    region: str = Field(index=True, max_length=10)
    # None until the shelter's head reports its beds: such a shelter is not known to be full.
    beds: int | None = None
    occupied: int = 0
    free: int | None = None
    reported_at: datetime = Field(sa_type=AWARE)
