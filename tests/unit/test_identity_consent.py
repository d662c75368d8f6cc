"""Consent records: given, withdrawn, valid at a moment; mandatory notices cite their clause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, SQLModel, create_engine

from shared.consent import (
    ConsentBase,
    ConsentError,
    ConsentForm,
    ConsentPurpose,
    ConsentRequired,
    GivenBy,
    give,
    is_valid,
    legal_basis_without_consent,
    valid_consent,
    withdraw,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class ShelterConsent(ConsentBase, table=True):
    """A service's own consent table, as a later service would declare it."""

    __tablename__ = "test_identity_shelter_consents"


@pytest.fixture
def session() -> Session:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[ShelterConsent.__table__])  # type: ignore[list-item]
    with Session(engine) as s:
        yield s  # type: ignore[misc]


def test_consent_holds_from_given_until_withdrawn(session: Session) -> None:
    consent = give(
        session,
        ShelterConsent,
        subject_ref="recipient-1",
        given_by=GivenBy.SELF,
        purpose=ConsentPurpose.SHELTER_APPLICATION,
        form=ConsentForm.WRITTEN,
        given_at=T0,
        case_id="c1",
    )
    assert not is_valid(consent, at=T0 - timedelta(seconds=1))
    assert is_valid(consent, at=T0)
    assert valid_consent(
        session, ShelterConsent, subject_ref="recipient-1", purpose="shelter_application", at=T0
    )
    withdraw(session, consent, at=T0 + timedelta(days=3))
    assert is_valid(consent, at=T0 + timedelta(days=2))
    assert not is_valid(consent, at=T0 + timedelta(days=3))
    assert (
        valid_consent(
            session,
            ShelterConsent,
            subject_ref="recipient-1",
            purpose="shelter_application",
            at=T0 + timedelta(days=4),
        )
        is None
    )


def test_illegal_steps_raise(session: Session) -> None:
    consent = give(
        session,
        ShelterConsent,
        subject_ref="r2",
        given_by="parent",
        purpose="rehabilitation_plan",
        form="oral",
        given_at=T0,
    )
    with pytest.raises(ConsentError):
        withdraw(session, consent, at=T0 - timedelta(days=1))
    withdraw(session, consent, at=T0 + timedelta(days=1))
    with pytest.raises(ConsentError):
        withdraw(session, consent, at=T0 + timedelta(days=2))
    with pytest.raises(ValueError):
        give(
            session,
            ShelterConsent,
            subject_ref="r2",
            given_by="neighbour",
            purpose="rehabilitation_plan",
            form="oral",
            given_at=T0,
        )
    with pytest.raises(ConsentError):
        give(
            session,
            ShelterConsent,
            subject_ref="r2",
            given_by="self",
            purpose="rehabilitation_plan",
            form="oral",
            given_at=T0.replace(tzinfo=None),
        )


def test_a_consent_for_one_purpose_does_not_cover_another(session: Session) -> None:
    give(
        session,
        ShelterConsent,
        subject_ref="r3",
        given_by="self",
        purpose="family_centre_interview",
        form="electronic",
        given_at=T0,
    )
    assert (
        valid_consent(
            session, ShelterConsent, subject_ref="r3", purpose="shelter_application", at=T0
        )
        is None
    )


@pytest.mark.parametrize(
    ("code", "basis"),
    [
        ("R1", "Rules 38874, p.8"),
        ("R7", "Rules 38874, p.12.1"),
        ("S12", "Standard 14701, p.35"),
        ("F10", "Family Centre Rules 34499, p.26"),
    ],
)
def test_mandatory_notifications_go_ahead_citing_their_clause(code: str, basis: str) -> None:
    assert legal_basis_without_consent(code) == basis


def test_anything_else_needs_consent() -> None:
    with pytest.raises(ConsentRequired):
        legal_basis_without_consent("S1")
