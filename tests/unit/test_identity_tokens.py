"""Tokens name an agency and a person with a role; only the deployment's keys sign them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import (
    APPROVE,
    DRAFT,
    InvalidToken,
    Principal,
    Refused,
    Role,
    TokenKeys,
    TokenVerifier,
)
from shared.clock import FixedClock

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def issue(keys: TokenKeys, **overrides: object) -> str:
    claims: dict[str, object] = {
        "agency_id": "kz-75-police",
        "agency_type": "police",
        "region": "KZ-75",
        "role": "caseworker",
        "subject": "officer-114",
        "now": NOW,
    }
    claims.update(overrides)
    return keys.issue(**claims)  # type: ignore[arg-type]


def test_a_token_names_agency_person_and_role() -> None:
    keys = TokenKeys.generate()
    who = keys.verify(issue(keys), now=NOW + timedelta(hours=1))
    assert who == Principal(
        subject="officer-114",
        agency_id="kz-75-police",
        agency_type="police",
        region="KZ-75",
        role=Role.CASEWORKER,
        token_id=who.token_id,
    )
    assert who.token_id


def test_expired_and_not_yet_valid_tokens_are_refused_by_the_injected_clock() -> None:
    keys = TokenKeys.generate()
    token = issue(keys, ttl=timedelta(hours=8))
    keys.verify(token, now=NOW + timedelta(hours=8))
    with pytest.raises(InvalidToken, match="expired"):
        keys.verify(token, now=NOW + timedelta(hours=8, minutes=1))
    with pytest.raises(InvalidToken, match="not yet valid"):
        keys.verify(token, now=NOW - timedelta(minutes=5))


def test_a_token_of_another_deployment_or_tampered_is_refused() -> None:
    ours, theirs = TokenKeys.generate(), TokenKeys.generate()
    with pytest.raises(InvalidToken):
        ours.verify(issue(theirs), now=NOW)
    header, payload, signature = issue(ours).split(".")
    forged = jwt.encode(
        {**jwt.decode(issue(ours), options={"verify_signature": False}), "role": "head"},
        "a-guessed-secret-of-thirty-two-bytes!",
        algorithm="HS256",
        headers={"kid": ours.active},
    )
    with pytest.raises(InvalidToken):
        ours.verify(forged, now=NOW)
    with pytest.raises(InvalidToken):
        ours.verify(f"{header}.{payload}x.{signature}", now=NOW)


def test_an_unsigned_token_is_refused() -> None:
    keys = TokenKeys.generate()
    claims = jwt.decode(issue(keys), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": keys.active})
    with pytest.raises(InvalidToken):
        keys.verify(unsigned, now=NOW)


def test_unknown_agency_type_or_role_cannot_be_issued() -> None:
    keys = TokenKeys.generate()
    with pytest.raises(ValueError):
        issue(keys, agency_type="school")
    with pytest.raises(ValueError):
        issue(keys, role="director")


def test_rotated_keys_still_verify_old_tokens_and_sign_with_the_new_key() -> None:
    keys = TokenKeys.generate()
    old = issue(keys)
    rotated = TokenKeys.loads(keys.rotated().dumps())
    assert rotated.active != keys.active
    assert rotated.verify(old, now=NOW).agency_id == "kz-75-police"
    new = issue(rotated)
    assert jwt.get_unverified_header(new)["kid"] == rotated.active
    with pytest.raises(InvalidToken):
        keys.verify(new, now=NOW)


def test_eddsa_public_part_verifies_but_cannot_issue() -> None:
    keys = TokenKeys.generate("EdDSA")
    public = TokenKeys.loads(keys.public_only().dumps())
    assert "private_key" not in public.dumps()
    assert public.verify(issue(keys), now=NOW).role is Role.CASEWORKER
    with pytest.raises(ValueError, match="not issue"):
        issue(public)


def test_verifier_reads_bearer_headers() -> None:
    keys = TokenKeys.generate()
    verifier = TokenVerifier(keys, FixedClock(NOW))
    assert verifier.principal_of(f"Bearer {issue(keys)}").agency_type == "police"
    for header in (None, "", "Basic abc", "Bearer ", issue(keys)):
        with pytest.raises(InvalidToken):
            verifier.principal_of(header)


def test_the_head_approves_a_caseworker_drafts() -> None:
    head = Principal("p1", "kz-75-shelter", "shelter", "KZ-75", Role.HEAD, "t1")
    worker = Principal("p2", "kz-75-shelter", "shelter", "KZ-75", Role.CASEWORKER, "t2")
    head.require(APPROVE)
    head.require(DRAFT)
    worker.require(DRAFT)
    with pytest.raises(Refused, match="needs head"):
        worker.require(APPROVE)
    integrator = Principal(
        "p3", "kz-contact-centre-111", "contact_centre_111", None, Role.INTEGRATOR, "t3"
    )
    with pytest.raises(Refused):
        integrator.require(DRAFT)


def test_key_file_is_created_once_owner_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "keys" / "token.key"
    first = TokenKeys.load_or_create(path)
    second = TokenKeys.load_or_create(path)
    assert first.dumps() == second.dumps()
    assert path.stat().st_mode & 0o777 == 0o600
