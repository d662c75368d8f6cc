"""Who is calling and what they may see: signed tokens, roles, and an agency's relation to a case.

Every HTTP call carries `Authorization: Bearer <JWT>` naming an agency (id, type, region) and a
person with a role. Tokens are signed with the deployment key (`var/keys/token.key` or
QORGAU_TOKEN_KEY_FILE): HS256 by default; an EdDSA key file that holds only the public key lets
a production service verify tokens it cannot issue. Rules 38874 p.33-34 keep a child's data
confidential, so an agency sees a case only when it relates to it (reported it, received a
referral, holds an obligation or a plan line); the service that holds the case keeps those
relations.

For a service: `install(app, verifier)` refuses every request without a valid token (`/health`
aside); `Depends(principal)` gives the caller to a route.

Sharing the keys: the issuer (the service given the key file, intake in deploy/) publishes the
public half of its EdDSA keys as a JWKS document at `/.well-known/jwks.json`; every other
service is given QORGAU_TOKEN_JWKS_URL instead of a key file and verifies with the keys it
fetches there (`JwksKeys`: cached, refetched when a token names a key id it has not seen, so a
rotation needs no restart; a key removed from the document stops verifying once the cache
expires). No private key is copied to a service that only verifies. Development (`qorgau up`)
keeps one HS256 key file that every process reads, as before.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Request
from fastapi.exceptions import HTTPException
from jwt.algorithms import OKPAlgorithm

from shared.agencies import AgencyType
from shared.clock import Clock
from shared.keyfiles import create_private, write_private
from shared.settings import DeploymentSettings

ISSUER = "qorgau"
AUDIENCE = "qorgau"
DEFAULT_TTL = timedelta(hours=8)
# Leeway for the issuer's and the verifier's clocks.
LEEWAY = timedelta(seconds=30)


class Role(StrEnum):
    """What a person does: a caseworker drafts, a head approves, operators and integrators watch."""

    CASEWORKER = "caseworker"
    HEAD = "head"
    OPERATOR = "operator"
    INTEGRATOR = "integrator"


# The people of an agency who work on cases.
AGENCY_ROLES = frozenset({Role.CASEWORKER, Role.HEAD})
# A caseworker drafts, the head approves (plans, decisions, orders: Rules 38874 Appendix 2,
# Standard 14701 p.17, p.38; Family Centre Rules p.17).
DRAFT = frozenset({Role.CASEWORKER, Role.HEAD})
APPROVE = frozenset({Role.HEAD})


class InvalidToken(Exception):
    """A token is missing, malformed, badly signed, expired or names no agency."""


class Refused(Exception):
    """The caller may not do this; the reason names the rule, never personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """The caller: a person (by id, never by name) of an agency, with a role."""

    subject: str
    agency_id: str
    agency_type: str
    region: str | None
    role: Role
    token_id: str

    def require(self, roles: Iterable[Role]) -> None:
        """Raise Refused unless the caller has one of the roles."""
        allowed = frozenset(roles)
        if self.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise Refused(f"role {self.role.value} may not do this (needs {names})")


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    kid: str
    alg: str
    signing: Any  # bytes (HS256) or an Ed25519 private key; None for a verify-only key
    verifying: Any


def _load_key(kid: str, spec: dict[str, Any]) -> _Key:
    alg = spec["alg"]
    if alg == "HS256":
        secret = base64.b64decode(spec["secret"])
        return _Key(kid, alg, secret, secret)
    if alg == "EdDSA":
        private = None
        if spec.get("private_key"):
            loaded = serialization.load_pem_private_key(spec["private_key"].encode(), None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"token key {kid}: not an Ed25519 private key")
            private = loaded
        public = serialization.load_pem_public_key(spec["public_key"].encode())
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError(f"token key {kid}: not an Ed25519 public key")
        return _Key(kid, alg, private, public)
    raise ValueError(f"token key {kid}: unsupported algorithm {alg!r}")


class TokenKeys:
    """The deployment's token keys by id; the active one signs, every one verifies."""

    def __init__(self, active: str, specs: dict[str, dict[str, Any]]) -> None:
        self.active = active
        self.specs = specs
        self._keys = {kid: _load_key(kid, spec) for kid, spec in specs.items()}
        if active not in self._keys:
            raise ValueError(f"active token key {active!r} is not in the key file")

    @staticmethod
    def new_spec(alg: str = "HS256") -> dict[str, Any]:
        """Return a fresh key of the algorithm, as stored in the key file."""
        if alg == "HS256":
            return {"alg": alg, "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
        if alg == "EdDSA":
            private = Ed25519PrivateKey.generate()
            return {
                "alg": alg,
                "private_key": private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ).decode(),
                "public_key": private.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode(),
            }
        raise ValueError(f"unsupported token algorithm {alg!r}")

    @classmethod
    def generate(cls, alg: str = "HS256") -> TokenKeys:
        """Make a key set with one fresh key."""
        kid = f"t{secrets.token_hex(4)}"
        return cls(kid, {kid: cls.new_spec(alg)})

    @classmethod
    def loads(cls, text: str) -> TokenKeys:
        """Read a key set from the key file's text."""
        data = json.loads(text)
        return cls(data["active"], dict(data["keys"]))

    def dumps(self) -> str:
        """Serialise the key set for its file."""
        return json.dumps({"active": self.active, "keys": self.specs}, indent=1, sort_keys=True)

    def public_only(self) -> TokenKeys:
        """Return the verify-only part (EdDSA keys without their private half)."""
        specs = {}
        for kid, spec in self.specs.items():
            if spec["alg"] != "EdDSA":
                raise ValueError("an HS256 key cannot be split into a public part")
            specs[kid] = {"alg": "EdDSA", "public_key": spec["public_key"]}
        return TokenKeys(self.active, specs)

    def rotated(self, alg: str | None = None) -> TokenKeys:
        """Return the key set with a new active key; old keys still verify."""
        kid = f"t{secrets.token_hex(4)}"
        spec = self.new_spec(alg or self.specs[self.active]["alg"])
        return TokenKeys(kid, {**self.specs, kid: spec})

    @classmethod
    def load_or_create(cls, path: Path, alg: str = "HS256") -> TokenKeys:
        """Read the key file, creating it (mode 0600) with a fresh key if it is missing."""
        if not path.exists():
            keys = cls.generate(alg)
            # Another process may create it first (services starting together): then use theirs.
            if create_private(path, keys.dumps()):
                return keys
        return cls.loads(path.read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        """Write the key set to path atomically, mode 0600."""
        write_private(path, self.dumps())

    def issue(
        self,
        *,
        agency_id: str,
        agency_type: str,
        region: str | None,
        role: Role | str,
        subject: str,
        now: datetime,
        ttl: timedelta = DEFAULT_TTL,
    ) -> str:
        """Sign a token for a person of an agency."""
        key = self._keys[self.active]
        if key.signing is None:
            raise ValueError("this key file can verify tokens but not issue them")
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "agency_id": agency_id,
            "agency_type": AgencyType(agency_type).value,
            "region": region,
            "role": Role(role).value,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, key.signing, algorithm=key.alg, headers={"kid": key.kid})

    def jwks(self) -> dict[str, Any]:
        """Return the public JWKS document of the EdDSA keys (an HS256 secret is never shown)."""
        found = []
        for kid, key in sorted(self._keys.items()):
            if key.alg != "EdDSA":
                continue
            jwk = dict(OKPAlgorithm.to_jwk(key.verifying, as_dict=True))
            found.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})
        return {"keys": found}

    def without(self, kid: str) -> TokenKeys:
        """Return the key set with a retired key removed: its tokens stop verifying."""
        if kid == self.active:
            raise ValueError("the active key cannot be removed: rotate first")
        return TokenKeys(self.active, {k: v for k, v in self.specs.items() if k != kid})

    def verifying_key(self, kid: str) -> tuple[str, Any]:
        """Return (algorithm, key) that verifies tokens signed with key id kid."""
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key.alg, key.verifying

    def verify(self, token: str, *, now: datetime) -> Principal:
        """Check a token's signature, audience, times and claims; return its principal."""
        return verify_token(token, self.verifying_key, now=now)


class JwksKeys:
    """Verify-only keys fetched from the issuer's JWKS document, cached for `lifespan` seconds.

    A token naming a key id not in the cached document makes one fetch (a rotation; at most
    one per cooldown); a key removed from the document stops verifying when the cache expires.
    """

    def __init__(self, url: str, *, lifespan: float = 300.0, timeout: float = 5.0) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(
            url,
            cache_jwk_set=True,
            lifespan=lifespan,
            timeout=timeout,
            # Unknown key ids refetch at most this often (a flood of forged kids cannot turn
            # into a flood of fetches), never less often than the cache expires.
            cooldown_duration=min(lifespan, 10.0),
        )

    def verifying_key(self, kid: str) -> tuple[str, Any]:
        """Return (algorithm, key) from the document for key id kid."""
        try:
            found = self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise InvalidToken("token keys unreachable") from None
        except jwt.PyJWKClientError:
            raise InvalidToken("unknown signing key") from None
        return str(found.algorithm_name), found.key

    def verify(self, token: str, *, now: datetime) -> Principal:
        """Check a token against the issuer's published keys; return its principal."""
        return verify_token(token, self.verifying_key, now=now)


def verify_token(
    token: str, lookup: Callable[[str], tuple[str, Any]], *, now: datetime
) -> Principal:
    """Check a token's signature (key by its kid), audience, times and claims."""
    try:
        header = jwt.get_unverified_header(token)
        alg = str(header.get("alg"))
        if alg.lower() == "none":
            raise InvalidToken("unsigned (alg none)")
        key_alg, verifying = lookup(str(header.get("kid")))
        if alg != key_alg:
            raise InvalidToken("algorithm does not match the key")
        # Times are checked below against the injected clock, not the system clock.
        claims = jwt.decode(
            token,
            verifying,
            algorithms=[key_alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "iat", "sub", "iss", "aud"],
            },
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(type(error).__name__) from None
    except (TypeError, ValueError):
        raise InvalidToken("malformed") from None
    moment = now.timestamp()
    if moment > float(claims["exp"]) + LEEWAY.total_seconds():
        raise InvalidToken("expired")
    if moment < float(claims.get("nbf", claims["iat"])) - LEEWAY.total_seconds():
        raise InvalidToken("not yet valid")
    try:
        return Principal(
            subject=str(claims["sub"]),
            agency_id=str(claims["agency_id"]),
            agency_type=AgencyType(claims["agency_type"]).value,
            region=claims.get("region"),
            role=Role(claims["role"]),
            token_id=str(claims.get("jti", "")),
        )
    except (KeyError, ValueError):
        raise InvalidToken("claims") from None


# The claims a refused token's audit entry shows, as the token states them (never trusted).
CLAIMED = ("sub", "agency_id", "agency_type", "role")


def unverified_claims(token: str) -> dict[str, str]:
    """Return what a token claims to be (person, agency, role), without trusting it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, TypeError, ValueError):
        return {}
    if not isinstance(claims, dict):
        return {}
    return {
        name: value.strip()
        for name in CLAIMED
        if isinstance(value := claims.get(name), str) and value.isprintable() and value.strip()
    }


# --- HTTP ------------------------------------------------------------------------------------


class Keys(Protocol):
    """What verifies a token: the key file's keys, or the issuer's published ones."""

    def verify(self, token: str, *, now: datetime) -> Principal: ...


def deployment_keys(settings: DeploymentSettings) -> TokenKeys | JwksKeys:
    """Return the keys a service verifies with: the issuer's JWKS if named, else the key file."""
    if settings.token_jwks_url:
        return JwksKeys(settings.token_jwks_url, lifespan=settings.token_jwks_lifespan)
    # Outside development a key file is never made on the spot: it is the issuer's, mounted.
    settings.require(
        settings.token_key_file is not None, "neither QORGAU_TOKEN_JWKS_URL nor a token key file"
    )
    return TokenKeys.load_or_create(settings.resolved_token_key_file())


JWKS_PATH = "/.well-known/jwks.json"


class TokenVerifier:
    """Verifies bearer tokens with the deployment keys and the injected clock."""

    def __init__(self, keys: Keys, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock

    def principal_of(self, authorization: str | None) -> Principal:
        """Return the caller named by an Authorization header, or raise InvalidToken."""
        if not authorization:
            raise InvalidToken("no token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("not a bearer token")
        return self.keys.verify(token.strip(), now=self.clock.now())


_STATE_KEY = "principal"
_UNAUTHORIZED = json.dumps({"detail": "a valid bearer token is required"}).encode()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Told of each refused token: the client's address, the reason, the token (if any).
OnInvalid = Callable[[str, str, str | None], Awaitable[None]]


# Integrators read the bus only (shared.natsauth gives them the case streams): no HTTP route
# serves them, whatever its own checks say.
BUS_ONLY_ROLES = frozenset({Role.INTEGRATOR})


class RefusalRecorder(Protocol):
    """Records a refusal in the service's audit log (shared.access.Gatekeeper.refuse)."""

    def __call__(
        self, who: Principal, *, action: str, case_id: str | None, reason: str
    ) -> object: ...


class RequireToken:
    """ASGI middleware: no HTTP request passes without a valid token, open paths aside."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        open_paths: frozenset[str],
        on_refusal: RefusalRecorder | None = None,
        on_invalid: OnInvalid | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.open_paths = open_paths
        self.on_refusal = on_refusal
        self.on_invalid = on_invalid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify the token of an HTTP request, or answer 401."""
        if scope["type"] != "http" or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization")
        try:
            principal = self.verifier.principal_of(raw.decode("latin-1") if raw else None)
        except InvalidToken as invalid:
            if self.on_invalid is not None:
                client = scope.get("client")
                source = str(client[0]) if client else "unknown"
                header = raw.decode("latin-1") if raw else None
                token = header.partition(" ")[2].strip() if header else None
                await self.on_invalid(source, str(invalid), token or None)
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="qorgau"'),
                        (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        if principal.role in BUS_ONLY_ROLES:
            await self._refuse_bus_only(principal, scope, send)
            return
        scope.setdefault("state", {})[_STATE_KEY] = principal
        await self.app(scope, receive, send)

    async def _refuse_bus_only(self, who: Principal, scope: Scope, send: Send) -> None:
        """Answer 403 to a bus-only role, recorded as every other refusal is."""
        reason = f"role {who.role.value} reads the event bus only; no HTTP route serves it"
        if self.on_refusal is not None:
            action = f"{scope.get('method', '?')} {scope.get('path', '?')}"[:60]
            await asyncio.to_thread(
                self.on_refusal, who, action=action, case_id=None, reason=reason
            )
        body = json.dumps({"detail": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install(
    app: Any,
    verifier: TokenVerifier,
    *,
    open_paths: Iterable[str] = ("/health", JWKS_PATH),
    on_refusal: RefusalRecorder | None = None,
    on_invalid: OnInvalid | None = None,
) -> None:
    """Require a valid token on every route of a FastAPI app (the docs too), open paths aside.

    Bus-only roles are refused (403) everywhere; on_refusal records each such refusal and
    on_invalid each refused token.
    """
    if isinstance(verifier.keys, TokenKeys):
        # The holder of the key file publishes the public half (empty for HS256 keys), read
        # at each request: a rotated key set is published as soon as the verifier has it.
        def jwks() -> dict[str, Any]:
            keys = verifier.keys
            return keys.jwks() if isinstance(keys, TokenKeys) else {"keys": []}

        app.add_api_route(JWKS_PATH, jwks, methods=["GET"], include_in_schema=False)
    app.add_middleware(
        RequireToken,
        verifier=verifier,
        open_paths=frozenset(open_paths),
        on_refusal=on_refusal,
        on_invalid=on_invalid,
    )


def principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller (the app must run `install`)."""
    found = getattr(request.state, _STATE_KEY, None)
    if not isinstance(found, Principal):
        raise HTTPException(status_code=401, detail="a valid bearer token is required")
    return found
