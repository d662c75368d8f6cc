"""OpenID Connect sign-in (production): authorization code with PKCE, through Authlib.

The provider's claims name the agency, its type, region and the person's role (claim names set
by CONSOLE_OIDC_CLAIM_*); the console then issues the platform token the services verify, so a
service sees the same claims whichever way the person signed in.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from services.console.config import ConsoleSettings
from shared.auth import Role


class ClaimsRefused(Exception):
    """The provider's claims name no agency or no role the platform knows."""


def map_claims(claims: dict[str, Any], settings: ConsoleSettings) -> dict[str, Any]:
    """Map the provider's claims to agency, agency type, region, role and person id."""
    agency = claims.get(settings.oidc_claim_agency)
    kind = claims.get(settings.oidc_claim_agency_type)
    role = claims.get(settings.oidc_claim_role)
    if not agency or not kind:
        raise ClaimsRefused("the identity provider names no agency for this person")
    if role not in {Role.CASEWORKER.value, Role.HEAD.value, Role.OPERATOR.value}:
        raise ClaimsRefused("the identity provider names no console role for this person")
    return {
        "agency_id": str(agency),
        "agency_type": str(kind),
        "region": claims.get(settings.oidc_claim_region),
        "role": str(role),
        # The person by the provider's stable id, never by name.
        "subject": f"oidc-{claims['sub']}",
    }


class Provider:
    """The deployment's identity provider, read from its discovery document."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._metadata: dict[str, Any] | None = None

    def client(self) -> Any:
        """Return an OAuth2 client of this console (PKCE with S256)."""
        # Imported here: only a deployment with a provider loads Authlib's client.
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret,
            scope=self.settings.oidc_scope,
            redirect_uri=self.settings.oidc_redirect_url,
            code_challenge_method="S256",
        )

    async def metadata(self) -> dict[str, Any]:
        """Return the provider's discovery document (fetched once)."""
        if self._metadata is None:
            issuer = str(self.settings.oidc_issuer).rstrip("/")
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(f"{issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                self._metadata = dict(response.json())
        return self._metadata

    async def start(self) -> tuple[str, dict[str, str]]:
        """Return the provider's authorization URL and what the session keeps for the return."""
        meta = await self.metadata()
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        async with self.client() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
            )
        return url, {"state": state, "verifier": verifier, "nonce": nonce}

    async def finish(self, code: str, kept: dict[str, str]) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier) and return the verified ID token's claims."""
        meta = await self.metadata()
        async with self.client() as client:
            token = await client.fetch_token(
                meta["token_endpoint"], code=code, code_verifier=kept["verifier"]
            )
        async with httpx.AsyncClient(timeout=10) as plain:
            keys = (await plain.get(meta["jwks_uri"])).json()
        token_claims = jwt.decode(token["id_token"], KeySet.import_key_set(keys)).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": str(self.settings.oidc_client_id)},
            nonce={"essential": True, "value": kept["nonce"]},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(token_claims)
        return dict(token_claims)
