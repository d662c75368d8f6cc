"""Consent to personal-data processing and its legal exceptions.

Where the regulations ask for consent (a shelter application with consent to personal-data
processing, Standard 14701 p.25 and Appendix 4; a family centre interview, Family Centre Rules
p.13; a parent's consent to a rehabilitation plan, Rules 38874 Appendix 2), a service keeps a
consent record: whose data, given by whom, to what, when, in which form, and when withdrawn.
Mandatory notifications go ahead without consent: `legal_basis_without_consent` names the
clause that allows each one, and the service records it with what it forwarded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from shared.db import AwareDateTime


class ConsentForm(StrEnum):
    """How consent was given."""

    WRITTEN = "written"
    ORAL = "oral"
    ELECTRONIC = "electronic"


class GivenBy(StrEnum):
    """Who gave consent, by their relation to the person whose data it is."""

    SELF = "self"
    PARENT = "parent"
    LEGAL_REPRESENTATIVE = "legal_representative"
    GUARDIAN = "guardian"


class ConsentPurpose(StrEnum):
    """What consent is given to; each names the clause that asks for it."""

    # Standard 14701 p.25, Appendix 4: application with consent to personal-data processing.
    SHELTER_APPLICATION = "shelter_application"
    # Family Centre Rules 34499 p.13: interview of a person who comes in person.
    FAMILY_CENTRE_INTERVIEW = "family_centre_interview"
    # Rules 38874 Appendix 2: the parent's or legal representative's consent to the plan.
    REHABILITATION_PLAN = "rehabilitation_plan"
    # The personal-data law: processing beyond what a mandatory duty requires.
    PERSONAL_DATA_PROCESSING = "personal_data_processing"


class ConsentError(ValueError):
    """An illegal step on a consent record (withdrawn twice, before it was given, ...)."""


class ConsentRequired(LookupError):
    """No legal basis allows this without consent."""


# Notifications the law makes mandatory: they go ahead without anyone's consent, and what is
# forwarded records the clause. Keys are the rows of REGULATIONS.md.
MANDATORY_NOTIFICATIONS: dict[str, str] = {
    "R1": "Rules 38874, p.8",
    "R3": "Rules 38874, p.10",
    "R5": "Rules 38874, p.11.2",
    "R6": "Rules 38874, p.11.3",
    "R7": "Rules 38874, p.12.1",
    "R12": "Rules 38874, p.12.6",
    "R13": "Rules 38874, p.12.7",
    "R14": "Rules 38874, p.13",
    "R15": "Rules 38874, p.14",
    "G3": "Guide, p.4",
    "G4": "Guide, p.5",
    "G6": "Guide, p.7",
    "G7": "Guide, p.12.2",
    "S5": "Standard 14701, p.30",
    "S12": "Standard 14701, p.35",
    "F10": "Family Centre Rules 34499, p.26",
}


def legal_basis_without_consent(code: str) -> str:
    """Return the clause that allows a mandatory notification without consent, or raise."""
    try:
        return MANDATORY_NOTIFICATIONS[code]
    except KeyError:
        raise ConsentRequired(f"{code}: no clause allows this without consent") from None


class ConsentBase(SQLModel):
    """A consent record; a service subclasses it as a table with its own `__tablename__`."""

    consent_id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True)
    case_id: str | None = Field(default=None, index=True, max_length=36)
    # A reference to the person within the service (a subject or recipient id), never a name.
    subject_ref: str = Field(index=True, max_length=64)
    given_by: str = Field(max_length=30)
    purpose: str = Field(max_length=60)
    form: str = Field(max_length=20)
    given_at: datetime = Field(sa_type=AwareDateTime())  # type: ignore[call-overload]
    withdrawn_at: datetime | None = Field(default=None, sa_type=AwareDateTime())  # type: ignore[call-overload]


C = TypeVar("C", bound=ConsentBase)


def give(
    session: Session,
    model: type[C],
    *,
    subject_ref: str,
    given_by: GivenBy | str,
    purpose: ConsentPurpose | str,
    form: ConsentForm | str,
    given_at: datetime,
    case_id: str | None = None,
) -> C:
    """Record consent in the caller's transaction."""
    if given_at.tzinfo is None:
        raise ConsentError("given_at must carry its timezone")
    consent = model(
        subject_ref=subject_ref,
        case_id=case_id,
        given_by=GivenBy(given_by).value,
        purpose=ConsentPurpose(purpose).value,
        form=ConsentForm(form).value,
        given_at=given_at,
    )
    session.add(consent)
    session.flush()
    return consent


def withdraw(session: Session, consent: ConsentBase, *, at: datetime) -> None:
    """Record that consent was withdrawn; refuse a second withdrawal or one before it was given."""
    if consent.withdrawn_at is not None:
        raise ConsentError("consent was already withdrawn")
    if at < consent.given_at:
        raise ConsentError("consent cannot be withdrawn before it was given")
    consent.withdrawn_at = at
    session.add(consent)
    session.flush()


def is_valid(consent: ConsentBase, *, at: datetime) -> bool:
    """Tell whether consent holds at a moment: given by then, not withdrawn by then."""
    if at < consent.given_at:
        return False
    return consent.withdrawn_at is None or at < consent.withdrawn_at


def valid_consent(
    session: Session, model: type[C], *, subject_ref: str, purpose: str, at: datetime
) -> C | None:
    """Return the consent that holds for a person and purpose at a moment, if any."""
    rows = session.exec(
        select(model)
        .where(col(model.subject_ref) == subject_ref, col(model.purpose) == purpose)
        .order_by(col(model.given_at).desc())
    ).all()
    return next((row for row in rows if is_valid(row, at=at)), None)


def consent_columns() -> list[sa.Column[object]]:
    """Return the columns of a consent table, for a service's Alembic migration."""
    return [
        sa.Column("consent_id", sa.String(36), primary_key=True),
        sa.Column("case_id", sa.String(36), index=True),
        sa.Column("subject_ref", sa.String(64), nullable=False, index=True),
        sa.Column("given_by", sa.String(30), nullable=False),
        sa.Column("purpose", sa.String(60), nullable=False),
        sa.Column("form", sa.String(20), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    ]
