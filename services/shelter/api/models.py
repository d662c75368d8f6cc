"""What shelter's routes read: request bodies as the API documents them (422 by field)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from services.shelter import domain
from shared import iin as iin_rules
from shared.http import PLAIN_TEXT

Name = Annotated[str, Field(min_length=1, max_length=300, pattern=PLAIN_TEXT)]
ShortText = Annotated[str, Field(min_length=1, max_length=200, pattern=PLAIN_TEXT)]
PersonId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")]
Number = Annotated[str, Field(min_length=1, max_length=60, pattern=PLAIN_TEXT)]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]


class PersonIn(BaseModel):
    """The person's data (Appendix 4, 7): kept in the shelter's database, encrypted."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name
    birth_date: date | None = None
    iin: str | None = None
    sex: str | None = Field(default=None, pattern=r"^(male|female)$")
    address: Annotated[str, Field(max_length=500, pattern=PLAIN_TEXT)] | None = None
    phone: Annotated[str, Field(max_length=40, pattern=r"^[0-9+() -]+$")] | None = None

    @field_validator("full_name")
    @classmethod
    def _letters(cls, value: str) -> str:
        if not any(char.isalpha() for char in value):
            raise ValueError("a name must contain letters")
        return value

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str | None) -> str | None:
        if value is not None and not iin_rules.is_valid(value):
            raise ValueError("IIN must be 12 ASCII digits with a valid date part and check digit")
        return value

    @model_validator(mode="after")
    def _iin_matches(self) -> PersonIn:
        if (
            self.iin is not None
            and self.birth_date is not None
            and iin_rules.contradicts_birth_date(self.iin, self.birth_date)
        ):
            raise ValueError("iin: its date part differs from birth_date")
        return self


class ArrivalBody(BaseModel):
    """An arrival: by personal application (consent) or by a referral delivered to the shelter."""

    model_config = ConfigDict(extra="forbid")

    arrival: domain.Arrival
    arrived_at: AwareDatetime
    person: PersonIn
    children: list[PersonIn] = Field(default_factory=list, max_length=15)
    # Appendix 4: consent to the collection and processing of personal data.
    consent: bool = False
    referral_id: Annotated[str, Field(min_length=1, max_length=36)] | None = None
    refuses_police: bool = False


class ScreeningBody(BaseModel):
    """Screening against p.13: the contraindications found (none: admitted)."""

    model_config = ConfigDict(extra="forbid")

    screened_at: AwareDatetime
    contraindications: list[Code] = Field(default_factory=list, max_length=5)


class ReturnBody(BaseModel):
    """A return after treatment (p.13)."""

    model_config = ConfigDict(extra="forbid")

    returned_at: AwareDatetime


class GeneralServicesBody(BaseModel):
    """General services of p.15 given before a contract."""

    model_config = ConfigDict(extra="forbid")

    given_at: AwareDatetime
    services: list[Code] = Field(min_length=1, max_length=4)


class SignatureIn(BaseModel):
    """One signature on the sheet (Appendix 5): role, person id, name, position, day."""

    model_config = ConfigDict(extra="forbid")

    role: Annotated[str, Field(pattern=r"^(shelter_specialist|social_protection|police)$")]
    person_id: PersonId
    name: Name
    position: ShortText
    signed_on: date


class IdentificationBody(BaseModel):
    """The identification interview (p.28-29) and its assessment sheet (Appendix 5)."""

    model_config = ConfigDict(extra="forbid")

    interviewed_at: AwareDatetime
    criteria: dict[Annotated[str, Field(max_length=4)], bool] = Field(max_length=17)
    conclusion: domain.Conclusion
    # The person ids of who held the interview: police, social_worker, psychologist.
    participants: dict[Annotated[str, Field(max_length=20)], PersonId] = Field(max_length=3)
    signatures: list[SignatureIn] = Field(min_length=1, max_length=3)


class SentBody(BaseModel):
    """When something was sent."""

    model_config = ConfigDict(extra="forbid")

    sent_at: AwareDatetime


class DecisionBody(BaseModel):
    """Social protection's decision on special social services (p.31)."""

    model_config = ConfigDict(extra="forbid")

    decision: domain.Decision
    decided_at: AwareDatetime
    number: Number | None = None


class ContractBody(BaseModel):
    """The contract (Appendix 6) signed with the recipient (p.32)."""

    model_config = ConfigDict(extra="forbid")

    signed_at: AwareDatetime
    number: Number | None = None


class RefusalBody(BaseModel):
    """The recipient refuses to apply to the police (p.35)."""

    model_config = ConfigDict(extra="forbid")

    refused_at: AwareDatetime


class StopBody(BaseModel):
    """A contraindication of p.13 found during the stay (p.36)."""

    model_config = ConfigDict(extra="forbid")

    found_at: AwareDatetime
    contraindications: list[Code] = Field(min_length=1, max_length=5)


class DepartureBody(BaseModel):
    """The head's order ending a stay (p.38): its ground and what was returned (p.39)."""

    model_config = ConfigDict(extra="forbid")

    ground: domain.Ground
    ended_at: AwareDatetime
    returned: list[Code] = Field(default_factory=list, max_length=3)
    violations: int | None = Field(default=None, ge=0, le=1000)
    absent_hours: float | None = Field(default=None, ge=0, le=100000)
    order_number: Number | None = None


Text = Annotated[str, Field(min_length=1, max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]


class IdentityDocumentIn(BaseModel):
    """The identity document of the card (Appendix 7)."""

    model_config = ConfigDict(extra="forbid")

    type: ShortText
    number: Number
    issued_on: date | None = None
    expires_on: date | None = None
    issuer: ShortText | None = None


class CardBody(BaseModel):
    """The registration card (Appendix 7, p.34): personal data, kept encrypted."""

    model_config = ConfigDict(extra="forbid")

    filled_at: AwareDatetime
    full_name: Name
    sex: str | None = Field(default=None, pattern=r"^(male|female)$")
    birth_date: date | None = None
    nationality: ShortText | None = None
    birth_place: ShortText | None = None
    last_address: Text | None = None
    document: IdentityDocumentIn | None = None
    iin: str | None = None
    education: ShortText | None = None
    profession: ShortText | None = None
    past_illnesses: Text | None = None
    health: Text | None = None
    referring_organisation: ShortText | None = None
    police_informed: bool = False

    @field_validator("iin")
    @classmethod
    def _iin(cls, value: str | None) -> str | None:
        if value is not None and not iin_rules.is_valid(value):
            raise ValueError("IIN must be 12 ASCII digits with a valid date part and check digit")
        return value


class PortalBody(BaseModel):
    """The social services portal's confirmation of the card's entry (p.34)."""

    model_config = ConfigDict(extra="forbid")

    entered_at: AwareDatetime
    reference: Number


class NeedsBody(BaseModel):
    """The needs assessment (p.14, p.16): the kinds of special social service needed."""

    model_config = ConfigDict(extra="forbid")

    assessed_at: AwareDatetime
    needs: list[Code] = Field(min_length=1, max_length=8)


class PlanLineIn(BaseModel):
    """A line of the plan (Appendix 1): kind of service, activity, dates, who assigned it."""

    model_config = ConfigDict(extra="forbid")

    line_id: Annotated[str, Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")]
    kind: Code
    activity: Text
    assigned_on: date
    due_on: date
    assigned_by: PersonId
    responsible: Annotated[str, Field(max_length=80, pattern=r"^[a-z0-9_-]+$")] | None = None


class PlanBody(BaseModel):
    """The plan's draft: its period, the observation it rests on, its lines."""

    model_config = ConfigDict(extra="forbid")

    period_start: date
    period_end: date
    assessed_from: date
    assessed_to: date
    lines: list[PlanLineIn] = Field(min_length=1, max_length=60)


class ApprovalBody(BaseModel):
    """The head's approval."""

    model_config = ConfigDict(extra="forbid")

    approved_at: AwareDatetime


class MonitoringBody(BaseModel):
    """A monitoring entry (Appendix 2): the state observed and the kinds to correct."""

    model_config = ConfigDict(extra="forbid")

    observed_on: date
    state: Annotated[str, Field(pattern=r"^(positive|negative|no_change)$")]
    note: Text | None = None
    corrections: list[Code] = Field(default_factory=list, max_length=8)


class SuspensionBody(BaseModel):
    """Services suspended while in a healthcare institution (p.37); inpatient care or not."""

    model_config = ConfigDict(extra="forbid")

    suspended_at: AwareDatetime
    inpatient: bool = True


class ResumptionBody(BaseModel):
    """The recipient is back from the healthcare institution."""

    model_config = ConfigDict(extra="forbid")

    resumed_at: AwareDatetime


class ExtensionBody(BaseModel):
    """An extension of the contract while in inpatient care (p.33)."""

    model_config = ConfigDict(extra="forbid")

    extended_at: AwareDatetime
    months: int = Field(ge=1, le=3)


class ReturnAtOnceBody(BaseModel):
    """A return after an absence with a good reason (p.37.2): re-admitted at once."""

    model_config = ConfigDict(extra="forbid")

    returned_at: AwareDatetime
    reason: Annotated[
        str, Field(pattern=r"^(police_detention|healthcare_institution|crime_against_them)$")
    ]


class CapacityBody(BaseModel):
    """The shelter's beds and staff by position of Appendix 3 (numbers, no names)."""

    model_config = ConfigDict(extra="forbid")

    beds: int = Field(ge=0, le=10000)
    staff: dict[Code, float] = Field(default_factory=dict, max_length=20)
