"""Token keys shared the right way: a service verifies with the issuer's published public keys.

The issuer (a real HTTP server on loopback, with the key file) serves `/.well-known/jwks.json`;
the service holds no key file, only QORGAU_TOKEN_JWKS_URL. It accepts the issuer's tokens,
follows a rotation without a restart, and refuses a token once its key is rotated out.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from qorgau.cli import main
from qorgau.cluster import free_port
from shared import auth
from shared.auth import InvalidToken, JwksKeys, Principal, TokenKeys, TokenVerifier
from shared.clock import SystemClock
from shared.settings import DeploymentSettings

LIFESPAN = 0.5


class Issuer:
    """An HTTP server holding the signing keys and publishing their public half."""

    def __init__(self, keys: TokenKeys) -> None:
        self.verifier = TokenVerifier(keys, SystemClock())
        app = FastAPI()
        auth.install(app, self.verifier)
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def keys(self) -> TokenKeys:
        assert isinstance(self.verifier.keys, TokenKeys)
        return self.verifier.keys

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{auth.JWKS_PATH}"

    def token(self) -> str:
        return self.keys.issue(
            agency_id="kz-75-police",
            agency_type="police",
            region="KZ-75",
            role="caseworker",
            subject="person-1",
            now=datetime.now(UTC),
        )


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    running = Issuer(TokenKeys.generate("EdDSA"))
    running.thread.start()
    deadline = time.monotonic() + 10
    while not running.server.started:
        assert time.monotonic() < deadline, "issuer did not start"
        time.sleep(0.05)
    try:
        yield running
    finally:
        running.server.should_exit = True
        running.thread.join(10)


def service_app(keys: JwksKeys) -> TestClient:
    app = FastAPI()
    auth.install(app, TokenVerifier(keys, SystemClock()))

    @app.get("/whoami")
    def whoami(who: Annotated[Principal, Depends(auth.principal)]) -> dict[str, str]:
        return {"agency_id": who.agency_id}

    return TestClient(app)


def test_the_jwks_document_holds_public_keys_only(issuer: Issuer) -> None:
    document = httpx.get(issuer.jwks_url).json()
    [key] = document["keys"]
    assert key["kid"] == issuer.keys.active
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in key  # the private half never leaves the issuer
    # An HS256 secret cannot be published: a key file of those publishes nothing.
    assert TokenKeys.generate("HS256").jwks() == {"keys": []}


def test_a_service_verifies_by_jwks_and_refuses_a_key_rotated_out(issuer: Issuer) -> None:
    settings = DeploymentSettings(token_jwks_url=issuer.jwks_url, token_jwks_lifespan=LIFESPAN)
    keys = auth.deployment_keys(settings)
    assert isinstance(keys, JwksKeys)
    service = service_app(keys)
    old_token = issuer.token()
    old_kid = issuer.keys.active

    answer = service.get("/whoami", headers={"Authorization": f"Bearer {old_token}"})
    assert answer.status_code == 200 and answer.json() == {"agency_id": "kz-75-police"}

    # Rotation: a new active key; the service fetches it on the first token naming it (after
    # the cooldown that keeps forged key ids from making a fetch each).
    issuer.verifier.keys = issuer.keys.rotated("EdDSA")
    time.sleep(LIFESPAN)
    new_token = issuer.token()
    answer = service.get("/whoami", headers={"Authorization": f"Bearer {new_token}"})
    assert answer.status_code == 200
    # The old key still verifies while it is published.
    assert service.get("/whoami", headers={"Authorization": f"Bearer {old_token}"}).is_success

    # Rotated out: once the cached document expires, the old key's tokens are refused.
    issuer.verifier.keys = issuer.keys.without(old_kid)
    time.sleep(LIFESPAN + 0.2)
    refused = service.get("/whoami", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401
    with pytest.raises(InvalidToken, match="unknown signing key"):
        keys.verify(old_token, now=datetime.now(UTC))
    assert service.get("/whoami", headers={"Authorization": f"Bearer {new_token}"}).is_success


def test_a_token_of_another_issuer_is_refused(issuer: Issuer) -> None:
    keys = JwksKeys(issuer.jwks_url, lifespan=LIFESPAN)
    stranger = TokenKeys.generate("EdDSA")
    # Same key id, another key: the signature does not verify.
    forged = TokenKeys(issuer.keys.active, {issuer.keys.active: stranger.specs[stranger.active]})
    token = forged.issue(
        agency_id="kz-75-police",
        agency_type="police",
        region="KZ-75",
        role="head",
        subject="person-2",
        now=datetime.now(UTC),
    )
    with pytest.raises(InvalidToken):
        keys.verify(token, now=datetime.now(UTC))


def test_the_issuer_unreachable_refuses_rather_than_trusts() -> None:
    keys = JwksKeys(f"http://127.0.0.1:{free_port()}/.well-known/jwks.json", timeout=1)
    token = TokenKeys.generate("EdDSA").issue(
        agency_id="kz-75-police",
        agency_type="police",
        region="KZ-75",
        role="head",
        subject="person-3",
        now=datetime.now(UTC),
    )
    with pytest.raises(InvalidToken, match="unreachable"):
        keys.verify(token, now=datetime.now(UTC))


def test_the_token_key_commands_publish_and_retire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "token.key"
    monkeypatch.setenv("QORGAU_TOKEN_KEY_FILE", str(path))
    TokenKeys.generate("EdDSA").save(path)
    old = TokenKeys.loads(path.read_text())
    old.rotated("EdDSA").save(path)
    assert main(["token-keys", "jwks"]) == 0
    assert len(json.loads(capsys.readouterr().out)["keys"]) == 2
    # The active key cannot be retired; the rotated-out one can.
    assert main(["token-keys", "retire", TokenKeys.loads(path.read_text()).active]) == 2
    assert main(["token-keys", "retire", old.active]) == 0
    assert old.active not in TokenKeys.loads(path.read_text()).specs
