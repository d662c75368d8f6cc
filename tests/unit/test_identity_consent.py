"""Mandatory notifications go ahead without consent, citing their clause; nothing else does."""

from __future__ import annotations

import pytest

from shared.consent import ConsentRequired, legal_basis_without_consent


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
