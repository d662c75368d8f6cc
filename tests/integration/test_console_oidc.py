"""The console's OpenID Connect sign-in against a tiny provider on loopback.

The provider is real HTTP (uvicorn on a free port): discovery, an authorization endpoint that
keeps the PKCE challenge and answers with a code, a token endpoint that checks the verifier
against the challenge and returns an RS256 ID token, and its JWKS. The console must send S256
PKCE, check the ID token (signature, issuer, audience, nonce) and map the claims to a session.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.console.app import build
from services.console.config import ConsoleSettings

CLIENT_ID = "qorgau-console"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TinyProvider:
    """An identity provider just big enough for the authorization code flow with PKCE."""

    def __init__(self, port: int, claims: dict[str, Any]) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.claims = claims
        self.codes: dict[str, dict[str, str]] = {}
        self.challenges: list[str] = []
        self.app = FastAPI()
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return KeySet([self.key]).as_dict(private=False)

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            query = request.query_params
            assert query["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(16)
            self.challenges.append(query["code_challenge"])
            self.codes[code] = {
                "challenge": query["code_challenge"],
                "nonce": query["nonce"],
                "redirect_uri": query["redirect_uri"],
            }
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            return RedirectResponse(target, status_code=302)

        @app.post("/token", response_model=None)
        def token(
            code: str = Form(), code_verifier: str = Form(), redirect_uri: str = Form()
        ) -> JSONResponse:
            issued = self.codes.pop(code, None)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if issued is None or challenge != issued["challenge"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": issued["nonce"],
                **self.claims,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return JSONResponse(
                {"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}
            )


@pytest.fixture
def provider() -> Iterator[TinyProvider]:
    port = free_port()
    found = TinyProvider(
        port,
        {
            "sub": "person-42",
            "qorgau_agency_id": "kz-75-police",
            "qorgau_agency_type": "police",
            "qorgau_region": "KZ-75",
            "qorgau_role": "head",
        },
    )
    server = uvicorn.Server(
        uvicorn.Config(found.app, host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def console(tmp_path: Path, provider: TinyProvider) -> TestClient:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = ConsoleSettings(
        var_dir=tmp_path,
        deployment="production",
        intake_url=nowhere,
        routing_url=nowhere,
        deadlines_url=nowhere,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="s3cret",
        oidc_redirect_url="http://testserver/signin/oidc/callback",
    )
    return TestClient(build(settings), follow_redirects=False)


def test_a_person_signs_in_with_the_provider_and_gets_the_agency_and_role_it_names(
    tmp_path: Path, provider: TinyProvider
) -> None:
    with console(tmp_path, provider) as client:
        page = client.get("/signin")
        assert 'href="/signin/oidc"' in page.text and 'action="/signin/dev"' not in page.text
        start = client.get("/signin/oidc")
        assert start.status_code == 303
        authorize = start.headers["location"]
        query = parse_qs(urlparse(authorize).query)
        assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
        answer = httpx.get(authorize)
        assert answer.status_code == 302
        callback = urlparse(answer.headers["location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert client.get("/").headers["location"] == "/inbox"
        inbox = client.get("/inbox")
        assert "kz-75-police" in inbox.text


def test_a_code_replayed_or_a_forged_state_signs_no_one_in(
    tmp_path: Path, provider: TinyProvider
) -> None:
    with console(tmp_path, provider) as client:
        authorize = client.get("/signin/oidc").headers["location"]
        callback = urlparse(httpx.get(authorize).headers["location"])
        params = parse_qs(callback.query)
        forged = client.get(f"{callback.path}?code={params['code'][0]}&state=forged")
        assert forged.headers["location"] == "/signin"
        assert client.get("/inbox").headers["location"] == "/signin"
        # The session's PKCE verifier went with the forged attempt: the real answer fails too.
        again = client.get(f"{callback.path}?{callback.query}")
        assert again.headers["location"] == "/signin"
        assert client.get("/inbox").headers["location"] == "/signin"
