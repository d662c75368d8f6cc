"""The envelope every event carries, and subject names.

Events carry ids, codes, dates, flags and agency ids: never a name, an IIN, an address, a
birth date, a school name or a narrative (Rules 38874 p.33-34). Consumers ignore fields they do
not know; a breaking change is a new subject version, published alongside the old one.
"""

from __future__ import annotations

import re
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
