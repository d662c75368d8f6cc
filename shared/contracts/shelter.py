"""Events the shelter service publishes (`qorgau.shelter.*`): a stay and its steps.

Ids, codes, states and times only: the person's name, IIN, health and what the sheet says stay
in the shelter's database, encrypted (Standard 14701 p.7.5: the recipients' privacy).
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event


class StayOpened(Event):
    """A person arrived at a shelter: by personal application or by referral (p.25-27)."""

    SERVICE: ClassVar[str] = "shelter"
    NAME: ClassVar[str] = "stay_opened"

    stay_id: UUID
    shelter_agency_id: str
    region: str
    # application | referral
    arrival: str
    referral_id: UUID | None = None
    referred_by_type: str | None = None
    # A child admitted with a parent: the parent's stay (p.26-27).
    parent_stay_id: UUID | None = None
    minor: bool = False
    admission: int = 1
    arrived_at: AwareDatetime
    legal_basis: str


class StayStepRecorded(Event):
    """A step of a stay was recorded (screening, identification, decision, contract, ...)."""

    SERVICE: ClassVar[str] = "shelter"
    NAME: ClassVar[str] = "stay_step_recorded"

    stay_id: UUID
    shelter_agency_id: str
    step: str
    # A code of what came of it (recognised, granted, a contraindication's code): no text.
    outcome: str | None = None
    # The stay's state after the step.
    status: str
    legal_basis: str
    at: AwareDatetime


class CapacityChanged(Event):
    """A shelter's beds or occupancy changed: for routing to pass over a full shelter."""

    SERVICE: ClassVar[str] = "shelter"
    NAME: ClassVar[str] = "capacity_changed"

    shelter_agency_id: str
    region: str
    # None until the shelter's head reports its beds.
    beds: int | None = None
    occupied: int
    children: int
    free: int | None = None
