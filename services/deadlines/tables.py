"""Deadlines' tables: obligations with their indexed due times."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.db import AwareDateTime

AWARE = AwareDateTime()


class Obligation(SQLModel, table=True):
    """One tracked obligation of a case."""

    __tablename__ = "deadlines_obligations"

    obligation_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    code: str = Field(max_length=10)
    legal_basis: str = Field(max_length=120)
    actor_agency_type: str = Field(max_length=40)
    actor_agency_id: str | None = Field(default=None, index=True, max_length=80)
    target_agency_type: str | None = Field(default=None, max_length=40)
    target_agency_id: str | None = Field(default=None, max_length=80)
    region: str | None = Field(default=None, max_length=10)
    term: str = Field(max_length=40)
    started_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
    due_at: datetime = Field(sa_type=AWARE, index=True)  # type: ignore[call-overload]
    status: str = Field(default="open", max_length=20, index=True)
    met_at: datetime | None = Field(default=None, sa_type=AWARE)  # type: ignore[call-overload]
    met_by_agency_id: str | None = Field(default=None, max_length=80)
    met_by_platform: bool = False
    on_time: bool | None = None
    opened_by: str = Field(max_length=40)
    opened_at: datetime = Field(sa_type=AWARE)  # type: ignore[call-overload]
