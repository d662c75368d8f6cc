"""Deadlines' HTTP API in process, behind real tokens, for the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.deadlines import api
from services.deadlines.handlers import DeadlinesDeps
from shared import auth
from shared.access import Gatekeeper

KEYS = auth.TokenKeys.generate()
AUDIT_KEY = b"deadlines-audit-test-key-0000000"


def bearer(
    deps: DeadlinesDeps, agency_id: str, agency_type: str, role: str = "caseworker"
) -> dict[str, str]:
    """The Authorization header of a person of an agency, valid at the deps' clock."""
    token = KEYS.issue(
        agency_id=agency_id,
        agency_type=agency_type,
        region=None if role == "operator" else "KZ-75",
        role=role,
        subject=f"person-of-{agency_id}",
        now=deps.clock.now(),
    )
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def operator_client(deps: DeadlinesDeps) -> AsyncIterator[httpx.AsyncClient]:
    """A client of deadlines' API whose requests carry an operator's token by default."""
    app = FastAPI()
    app.include_router(api.router(deps, gate=Gatekeeper(deps.engine, AUDIT_KEY, deps.clock)))
    auth.install(app, auth.TokenVerifier(KEYS, deps.clock))
    headers = bearer(deps, "kz-child-rights-national", "child_rights_national", "operator")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://deadlines", headers=headers
    ) as client:
        yield client
