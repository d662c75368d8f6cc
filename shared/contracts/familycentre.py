"""Events the family support centre publishes (Family Centre Rules 34499), besides the
obligation contract it shares with every producer.

Ids, codes, dates, counts and agency ids only: who appealed, what they said and the children's
names stay encrypted in the centre's database.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event


class AppealReceived(Event):
    """The centre recorded an appeal from one of the five channels of p.12 (row F1)."""

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "appeal_received"

    appeal_id: UUID
    centre_agency_id: str
    channel: str
    legal_basis: str
    region: str
    received_at: AwareDatetime
    threat_to_life: bool = False


class CentreDelivery(Event):
    """The centre sends work to another organisation; routing delivers it on that agency's
    subject. `what`: `redirect` (F2, p.13.1/p.14.1), `plan_line` (F5, p.16), `emergency_measure`
    (F7, p.22). The obligation it carries is the centre's (`redirect`) or the recipient's.
    """

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "centre_delivery"

    delivery_id: UUID
    what: str
    code: str
    legal_basis: str
    obligation_id: UUID
    from_agency_id: str
    to_agency_id: str
    region: str
    due_on: date | None = None


class PersonAdmitted(Event):
    """The centre admitted a person to a temporary stay (p.23.5, p.25); with minor children
    (p.26) routing opens F10 (trigger `admitted` by `family_support_centre`) and delivers the
    written notices to the police and the guardianship body.
    """

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "person_admitted"

    stay_id: UUID
    centre_agency_id: str
    region: str
    admitted_at: AwareDatetime
    accompanying_minors: int
    basis: str


class MobileGroupEngaged(Event):
    """On information about a direct threat the centre engaged the mobile group (F7, p.22)."""

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "mobile_group_engaged"

    group_id: UUID
    appeal_id: UUID
    centre_agency_id: str
    engaged_at: AwareDatetime
    legal_basis: str


class PlanApproved(Event):
    """The head approved a version of an individual work plan (F5) or emergency plan (F7)."""

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "plan_approved"

    plan_id: UUID
    kind: str
    version: int
    centre_agency_id: str
    approved_at: AwareDatetime
    legal_basis: str


class PlanEnded(Event):
    """An individual work plan ended on a ground of p.19 (F6)."""

    SERVICE: ClassVar[str] = "familycentre"
    NAME: ClassVar[str] = "plan_ended"

    plan_id: UUID
    ground: str
    ended_on: date
    legal_basis: str


class AgencyPlanLineReport(Event):
    """An organisation's system reports a plan line it carries done or not done, on its own
    subject (`qorgau.agency.<agency_id>.plan_line_reported.v1`): the subject names the agency."""

    SERVICE: ClassVar[str] = "agency"
    NAME: ClassVar[str] = "plan_line_reported"

    plan_id: UUID
    line_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    status: Literal["done", "not_done"]
    done_on: date | None = None
    # With `not_done`: why, as a code (never free text: it could carry personal data).
    reason: Literal["person_refused", "person_unreachable", "not_competent", "other"] | None = None
    # The person who reported, as the agency's own system identifies them: an id, never a name.
    person_id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")
