"""Personal data at rest: authenticated encryption per field, key id with each value, rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from shared.crypto import FieldCipher, KeyRing


def test_values_carry_their_key_id_and_are_bound_to_their_field() -> None:
    ring = KeyRing.generate()
    cipher = FieldCipher(ring)
    token = cipher.encrypt("Aruzhan Seitkali", field="full_name")
    assert token is not None
    assert "Aruzhan" not in token
    assert cipher.key_id_of(token) == ring.active
    assert cipher.decrypt(token, field="full_name") == "Aruzhan Seitkali"
    with pytest.raises(InvalidTag):
        cipher.decrypt(token, field="address")
    # Same value twice: two different ciphertexts (random nonce).
    assert cipher.encrypt("x", field="iin") != cipher.encrypt("x", field="iin")


def test_rotation_keeps_old_values_readable_and_hashes_stable(tmp_path: Path) -> None:
    path = tmp_path / "intake.keys"
    ring = KeyRing.load_or_create(path)
    old_cipher = FieldCipher(ring)
    old = old_cipher.encrypt("150402600014", field="iin")
    old_hash = old_cipher.lookup_hash("150402600014", field="iin")

    ring.rotated().save(path)
    rotated = KeyRing.load_or_create(path)
    assert rotated.active != ring.active
    assert set(ring.keys) < set(rotated.keys)
    assert path.stat().st_mode & 0o777 == 0o600

    cipher = FieldCipher(rotated)
    assert cipher.decrypt(old, field="iin") == "150402600014"
    new = cipher.encrypt("150402600014", field="iin")
    assert new is not None and cipher.key_id_of(new) == rotated.active
    assert cipher.lookup_hash("150402600014", field="iin") == old_hash


def test_a_value_under_a_key_no_longer_in_the_ring_is_an_error() -> None:
    token = FieldCipher(KeyRing.generate()).encrypt("x", field="iin")
    with pytest.raises(KeyError, match="not in the key ring"):
        FieldCipher(KeyRing.generate()).decrypt(token, field="iin")


def test_derived_keys_differ_by_purpose_and_from_the_hash_key() -> None:
    ring = KeyRing.generate()
    assert ring.derived_key("audit-chain") != ring.derived_key("other")
    assert ring.derived_key("audit-chain") != ring.hash_key
    assert ring.derived_key("audit-chain") == ring.derived_key("audit-chain")


def test_derived_key_is_hkdf_sha256_of_the_hash_key() -> None:
    # Audit chains are keyed with this value: a change of derivation breaks their verification.
    ring = KeyRing(active="k1", keys={"k1": bytes(32)}, hash_key=bytes(range(32)))
    assert ring.derived_key("audit-chain").hex() == (
        "af045b33b181458b5ef9d2fb417490f3ea4f2e815e25356babeef8545616bac9"
    )


def test_derived_key_survives_a_rotation_of_the_data_keys() -> None:
    ring = KeyRing.generate()
    assert ring.rotated().derived_key("audit-chain") == ring.derived_key("audit-chain")
