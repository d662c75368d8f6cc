"""Every refusal leaves a trace, and every service shows its audit log to operators.

Each service is built by its own composition root (`app.build`) on SQLite and PostgreSQL, with
an unreachable NATS (the HTTP side does not need it): forged, expired and unsigned tokens are
recorded with the agency they claim (unverified) and why they failed, a flood of them is counted
rather than written entry by entry, and `GET /v1/audit` filters by case, agency, time, outcome.
"""

from __future__ import annotations

import base64
import importlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from qorgau import registry
from shared import audit
from shared.auth import Role, TokenKeys
from shared.clock import FixedClock
from shared.runtime import ServiceRuntime

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
POLICE = "kz-75-police"


@dataclass
class Built:
    service: str
    client: httpx.AsyncClient
    keys: TokenKeys
    clock: FixedClock
    runtime: ServiceRuntime
    app: FastAPI

    def token(self, agency_id: str, role: Role = Role.CASEWORKER, **kwargs: Any) -> str:
        kind = {"kz-child-rights-national": "child_rights_national"}.get(agency_id, "police")
        return self.keys.issue(
            agency_id=agency_id,
            agency_type=kind,
            region=None if role is Role.OPERATOR else "KZ-75",
            role=role,
            subject=f"person-of-{agency_id}",
            now=kwargs.pop("now", self.clock.now()),
            **kwargs,
        )

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token('kz-child-rights-national', Role.OPERATOR)}"}

    def rows(self) -> list[dict[str, Any]]:
        with self.runtime.engine.connect() as connection:
            found = connection.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()
            return [dict(row) for row in found]


def _unsigned(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.fixture(params=["intake", "routing", "deadlines", "casework", "shelter", "familycentre"])
async def built(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> AsyncIterator[Built]:
    service = registry.service(request.param)
    assert service is not None
    settings = service.settings().model_copy(
        update={
            "var_dir": tmp_path,
            "database_url": db_url,
            "nats_url": "nats://127.0.0.1:1",
            "token_key_file": tmp_path / "keys" / "token.key",
        }
    )
    clock = FixedClock(NOW)
    build: Callable[..., tuple[ServiceRuntime, FastAPI]] = importlib.import_module(
        f"{service.package}.app"
    ).build
    runtime, app = build(settings, clock=clock)
    keys = TokenKeys.load_or_create(tmp_path / "keys" / "token.key")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield Built(request.param, client, keys, clock, runtime, app)
    runtime.tracer_provider.shutdown()
    runtime.engine.dispose()


async def test_refused_tokens_are_recorded_with_their_unverified_claims(built: Built) -> None:
    path = f"/v1/audit?case_id={uuid.uuid4()}"
    forged = TokenKeys.generate().issue(
        agency_id=POLICE,
        agency_type="police",
        region="KZ-75",
        role="head",
        subject="forger",
        now=NOW,
    )
    expired = built.token(POLICE, now=NOW - timedelta(days=2), ttl=timedelta(hours=1))
    unsigned = _unsigned(
        {"sub": "nobody", "agency_id": "kz-71-police", "agency_type": "police", "role": "operator"}
    )
    for token in (forged, expired, unsigned):
        answer = await built.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
    assert (await built.client.get(path)).status_code == 401

    refused = [row for row in built.rows() if row["action"] == "token.verify"]
    assert [(r["agency_id"], r["actor"], r["role"], r["case_id"]) for r in refused] == [
        (POLICE, "forger", "unverified", None),
        (POLICE, f"person-of-{POLICE}", "unverified", None),
        ("kz-71-police", "nobody", "unverified", None),
        ("unknown", "unknown", "unverified", None),
    ]
    reasons = [r["reason"] for r in refused]
    assert all("claims unverified" in reason for reason in reasons)
    assert "unknown signing key" in reasons[0]
    assert "expired" in reasons[1]
    assert "alg none" in reasons[2]
    assert "no token" in reasons[3]
    assert all(r["outcome"] == audit.REFUSED for r in refused)
    assert audit.verify(built.runtime.engine, key=_key(built)) == []


async def test_a_flood_of_bad_tokens_is_counted_not_written_each_time(built: Built) -> None:
    forged = TokenKeys.generate().issue(
        agency_id=POLICE, agency_type="police", region="KZ-75", role="head", subject="x", now=NOW
    )
    headers = {"Authorization": f"Bearer {forged}"}
    for _ in range(40):
        assert (await built.client.get("/v1/audit", headers=headers)).status_code == 401
    assert len([r for r in built.rows() if r["action"] == "token.verify"]) == 1
    # The next interval: the 39 that followed are written as one count, with the new one.
    built.clock.advance(timedelta(minutes=2))
    assert (await built.client.get("/v1/audit", headers=headers)).status_code == 401
    refused = [r for r in built.rows() if r["action"] == "token.verify"]
    assert len(refused) == 3
    assert "39 more since" in refused[1]["reason"]
    assert "1 refusal" in refused[2]["reason"]
    # A count is written when its interval is over, even if no refusal follows.
    assert (await built.client.get("/v1/audit", headers=headers)).status_code == 401
    built.clock.advance(timedelta(minutes=2))
    built.app.state.token_refusals.settle()
    refused = [r for r in built.rows() if r["action"] == "token.verify"]
    assert len(refused) == 4
    assert "1 more since" in refused[3]["reason"]


async def test_operators_read_the_audit_log_with_filters(built: Built) -> None:
    police = {"Authorization": f"Bearer {built.token(POLICE)}"}
    case_id = str(uuid.uuid4())
    # A refusal of the audit log itself, under a case; then one without a case, an hour later.
    read_case = await built.client.get(f"/v1/audit?case_id={case_id}", headers=police)
    assert read_case.status_code == 403
    built.clock.advance(timedelta(hours=1))
    assert (await built.client.get("/v1/audit", headers=police)).status_code == 403

    everything = await built.client.get("/v1/audit", headers=built.operator())
    assert everything.status_code == 200, everything.text
    entries = everything.json()["entries"]
    assert [(e["agency_id"], e["case_id"], e["outcome"]) for e in entries] == [
        (POLICE, case_id, "refused"),
        (POLICE, None, "refused"),
    ]

    async def seqs(**params: str) -> list[int]:
        answer = await built.client.get("/v1/audit", params=params, headers=built.operator())
        assert answer.status_code == 200, answer.text
        return [entry["seq"] for entry in answer.json()["entries"]]

    first, second = entries[0]["seq"], entries[1]["seq"]
    assert await seqs(case_id=case_id) == [first]
    assert await seqs(agency_id=POLICE, outcome="refused") == [first, second]
    assert await seqs(agency_id="kz-75-shelter") == []
    assert await seqs(outcome="allowed") == []
    assert await seqs(**{"from": (NOW + timedelta(minutes=30)).isoformat()}) == [second]
    assert await seqs(**{"to": (NOW + timedelta(minutes=30)).isoformat()}) == [first]

    bad = await built.client.get(
        "/v1/audit",
        params={"outcome": "maybe", "from": "yesterday", "to": "9999-12-31T23:00:00-05:00"},
        headers=built.operator(),
    )
    assert bad.status_code == 422
    assert sorted(problem["field"] for problem in bad.json()["detail"]) == ["from", "outcome", "to"]
    nul = await built.client.get(
        "/v1/audit", params={"agency_id": "a\x00b"}, headers=built.operator()
    )
    assert nul.status_code == 422


def _key(built: Built) -> bytes:
    from shared.access import audit_key
    from shared.crypto import KeyRing

    return audit_key(KeyRing.load_or_create(built.runtime.settings.resolved_data_key_file()))
