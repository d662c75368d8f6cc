"""Personal data at rest: field-by-field authenticated encryption with rotating keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.keyfiles import create_private, write_private

_PREFIX = "enc1"


@dataclass(frozen=True)
class KeyRing:
    """Data keys by id, the active one for new values, and the key for lookup hashes."""

    active: str
    keys: dict[str, bytes]
    hash_key: bytes

    @classmethod
    def generate(cls) -> KeyRing:
        """Make a fresh key ring (development and tests)."""
        kid = f"k{secrets.token_hex(4)}"
        return cls(active=kid, keys={kid: AESGCM.generate_key(256)}, hash_key=os.urandom(32))

    @classmethod
    def load_or_create(cls, path: Path) -> KeyRing:
        """Read the key ring from path, creating it (mode 0600) on first start."""
        if not path.exists():
            ring = cls.generate()
            # Another process may create it first (services starting together): then use theirs.
            if create_private(path, ring.dumps()):
                return ring
        data = json.loads(path.read_text())
        return cls(
            active=data["active"],
            keys={kid: base64.b64decode(key) for kid, key in data["keys"].items()},
            hash_key=base64.b64decode(data["hash_key"]),
        )

    def rotated(self) -> KeyRing:
        """Return the ring with a new active key; values under older keys stay readable."""
        kid = f"k{secrets.token_hex(4)}"
        while kid in self.keys:
            kid = f"k{secrets.token_hex(4)}"
        # The hash key stays: IIN and identity hashes must keep matching across rotations.
        return KeyRing(
            active=kid, keys={**self.keys, kid: AESGCM.generate_key(256)}, hash_key=self.hash_key
        )

    def save(self, path: Path) -> None:
        """Write the ring to its key file atomically, mode 0600."""
        write_private(path, self.dumps())

    def derived_key(self, purpose: str) -> bytes:
        """Return a key for another purpose (the audit chain), derived from the hash key."""
        # HKDF (RFC 5869): the purpose is the context, so each purpose gets an independent key.
        derivation = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=f"qorgau-derived\x00{purpose}".encode(),
        )
        return derivation.derive(self.hash_key)

    def dumps(self) -> str:
        """Serialise the ring for its key file."""
        return json.dumps(
            {
                "active": self.active,
                "keys": {kid: base64.b64encode(key).decode() for kid, key in self.keys.items()},
                "hash_key": base64.b64encode(self.hash_key).decode(),
            }
        )


class FieldCipher:
    """Encrypts one field value at a time; the key id travels with each value."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    def encrypt(self, plain: str | None, *, field: str) -> str | None:
        """Encrypt a value; the field name is bound in as associated data."""
        if plain is None:
            return None
        nonce = os.urandom(12)
        key = self._ring.keys[self._ring.active]
        sealed = AESGCM(key).encrypt(nonce, plain.encode(), field.encode())
        return f"{_PREFIX}:{self._ring.active}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str | None, *, field: str) -> str | None:
        """Decrypt a value written by encrypt with any key still in the ring."""
        if token is None:
            return None
        prefix, kid, body = token.split(":", 2)
        if prefix != _PREFIX:
            raise ValueError(f"{field}: not an encrypted value")
        key = self._ring.keys.get(kid)
        if key is None:
            # A key was removed from the ring while values still use it: never guess.
            raise KeyError(f"{field}: data key {kid} is not in the key ring")
        raw = base64.b64decode(body)
        return AESGCM(key).decrypt(raw[:12], raw[12:], field.encode()).decode()

    def key_id_of(self, token: str) -> str:
        """Return the id of the key a value was encrypted with."""
        return token.split(":", 2)[1]

    def lookup_hash(self, value: str, *, field: str) -> str:
        """Return a keyed hash for finding equal values without storing them in clear."""
        message = f"{field}\x00{value}".encode()
        return hmac.new(self._ring.hash_key, message, hashlib.sha256).hexdigest()
