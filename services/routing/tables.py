"""Routing's tables: the agency directory and the referrals with their proof."""

from __future__ import annotations

from datetime import datetime

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
