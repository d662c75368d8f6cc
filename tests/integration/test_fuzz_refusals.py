"""Bad input the fuzzing found answers 422 naming the field, changing nothing, never 500.

Each app is the one the service composes for production, in process (tests/integration/
fuzz_apps.py), so the refusals are the ones a client gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.integration.fuzz_apps import ServiceApp, build


@pytest.fixture
def routing(tmp_path: Path) -> Iterator[ServiceApp]:
    service = build("routing", tmp_path)
    yield service
    service.close()


@pytest.fixture
def deadlines(tmp_path: Path) -> Iterator[ServiceApp]:
    service = build("deadlines", tmp_path)
    yield service
    service.close()


async def _client(service: ServiceApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{service.name}", headers=service.token(Role.OPERATOR)
    ) as client:
        yield client


@pytest.fixture
async def routing_client(routing: ServiceApp) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(routing):
        yield client


@pytest.fixture
async def deadlines_client(deadlines: ServiceApp) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(deadlines):
        yield client


def refused_fields(answer: httpx.Response) -> list[str]:
    """The fields a 422 names; asserts the answer is that 422, in the documented shape."""
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    problems = answer.json()["detail"]
    assert all(set(each) == {"field", "message", "type"} for each in problems), problems
    return [each["field"] for each in problems]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_calendar_overrides_nested_deep_is_refused(
    deadlines_client: httpx.AsyncClient,
) -> None:
    for body in (nested(30_000), '{"days_off": ' + nested(30_000) + "}"):
        answer = await deadlines_client.post(
            "/v1/calendar/overrides",
            content=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert refused_fields(answer) == ["body"]
    overrides = await deadlines_client.get("/v1/calendar/overrides")
    assert overrides.status_code == 200
    assert overrides.json()["days_off"] == []


async def test_calendar_day_in_year_one_is_refused(deadlines_client: httpx.AsyncClient) -> None:
    answer = await deadlines_client.post(
        "/v1/calendar/overrides", json={"days_off": ["0001-01-01"], "working_days": []}
    )
    assert refused_fields(answer) == ["days_off.0"]
    answer = await deadlines_client.post(
        "/v1/calendar/overrides", json={"working_days": ["2026-01-03", "0001-01-06"]}
    )
    assert refused_fields(answer) == ["working_days.1"]
    gone = await deadlines_client.delete("/v1/calendar/overrides/0001-01-01")
    assert refused_fields(gone) == ["day"]
    assert (await deadlines_client.get("/v1/calendar/overrides")).json()["days_off"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "9999-12-31"}, "to"),
        ({"from": "9999-12-31"}, "from"),
        ({"from": "0001-01-01"}, "from"),
        ({"to": "0001-01-01T00:00:00+05:00"}, "to"),
        ({"to": "9999-12-31T23:59:59-05:00"}, "to"),
    ],
)
async def test_compliance_period_out_of_range_is_refused(
    deadlines_client: httpx.AsyncClient, query: dict[str, str], field: str
) -> None:
    answer = await deadlines_client.get("/v1/compliance", params=query)
    assert refused_fields(answer) == [field]


async def test_compliance_widest_sensible_period_answers(
    deadlines_client: httpx.AsyncClient,
) -> None:
    answer = await deadlines_client.get(
        "/v1/compliance", params={"from": "2000-01-01", "to": "2999-12-31"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["agencies"] == []


@pytest.mark.parametrize("limit", ["²", "١٠", "1_0", " 5"])
async def test_limit_in_other_digits_is_refused(
    deadlines_client: httpx.AsyncClient, limit: str
) -> None:
    answer = await deadlines_client.get(
        "/v1/agencies/kz-75-police/obligations", params={"limit": limit}
    )
    assert refused_fields(answer) == ["limit"]


@pytest.mark.parametrize("name", ["name_en", "name_kk", "name_ru", "agency_type", "active"])
async def test_agency_change_with_a_required_field_null_is_refused(
    routing_client: httpx.AsyncClient, name: str
) -> None:
    before = await routing_client.get("/v1/agencies/kz-75-police")
    assert before.status_code == 200
    answer = await routing_client.put("/v1/agencies/kz-75-police", json={name: None})
    assert refused_fields(answer) == [name]
    assert (await routing_client.get("/v1/agencies/kz-75-police")).json() == before.json()


async def test_agency_change_may_clear_what_may_be_empty(
    routing_client: httpx.AsyncClient,
) -> None:
    answer = await routing_client.put("/v1/agencies/kz-75-police", json={"district": None})
    assert answer.status_code == 200, answer.text
    assert answer.json()["district"] is None


def _problem(answer: httpx.Response) -> Any:
    return answer.json()["detail"][0]


async def test_routing_directory_refusal_has_the_documented_shape(
    routing_client: httpx.AsyncClient,
) -> None:
    answer = await routing_client.put("/v1/agencies/kz-75-police", json={"region": "KZ-00"})
    assert refused_fields(answer) == ["region"]
    assert _problem(answer)["type"] == "value_error"


# A NUL byte reaches no query: PostgreSQL refuses it in text (a 500 there, found by the fuzzer).
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/agencies/a%00b", "agency_id"),
        ("/v1/agencies/a%00b/inbox", "agency_id"),
        ("/v1/cases/a%00b/referrals", "case_id"),
        ("/v1/cases/a%00b/routing-obligations", "case_id"),
        ("/v1/referrals/a%00b", "referral_id"),
        ("/v1/agencies?region=KZ-75%00", "region"),
    ],
)
async def test_routing_nul_in_an_identifier_is_refused(
    routing_client: httpx.AsyncClient, path: str, field: str
) -> None:
    assert refused_fields(await routing_client.get(path)) == [field]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/cases/a%00b/obligations", "case_id"),
        ("/v1/cases/a%00b/timeline", "case_id"),
        ("/v1/agencies/a%00b/obligations", "agency_id"),
    ],
)
async def test_deadlines_nul_in_an_identifier_is_refused(
    deadlines_client: httpx.AsyncClient, path: str, field: str
) -> None:
    assert refused_fields(await deadlines_client.get(path)) == [field]


@pytest.mark.parametrize("name", ["name_en", "name_kk", "name_ru", "district"])
async def test_agency_name_with_control_characters_is_refused(
    routing_client: httpx.AsyncClient, name: str
) -> None:
    answer = await routing_client.put("/v1/agencies/kz-75-police", json={name: "Police\u0000 KZ"})
    assert refused_fields(answer) == [name]
    answer = await routing_client.post(
        "/v1/agencies",
        json={
            "agency_id": "kz-75-new",
            "agency_type": "police",
            "region": "KZ-75",
            "name_kk": "Polícia",
            "name_ru": "Полиция",
            "name_en": "Police",
            name: "Police\u0007",
        },
    )
    assert refused_fields(answer) == [name]
