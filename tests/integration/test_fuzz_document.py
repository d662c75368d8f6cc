"""Each service's OpenAPI document describes what it answers, so tools can test from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.integration.fuzz_apps import ServiceApp, build

SERVICES = ("intake", "routing", "deadlines", "casework", "shelter", "familycentre")
FIELD_PROBLEMS = {"$ref": "#/components/schemas/FieldProblems"}


@pytest.fixture(scope="module", params=SERVICES)
def service(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[ServiceApp]:
    built = build(request.param, tmp_path_factory.mktemp(request.param))
    yield built
    built.close()


def document(service: ServiceApp) -> dict[str, Any]:
    return service.app.openapi()


def operations(service: ServiceApp) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document(service)["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_every_refusal_by_field_is_documented_as_sent(service: ServiceApp) -> None:
    schemas = document(service)["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["FieldProblem"]["required"]) == {"field", "message", "type"}
    for method, path, operation in operations(service):
        if path == "/health":
            continue
        responses = operation["responses"]
        assert "422" in responses, (method, path)
        body = responses["422"]["content"]["application/json"]["schema"]
        assert body == FIELD_PROBLEMS, (method, path)
        assert "401" in responses, (method, path)


def test_health_documents_its_503(service: ServiceApp) -> None:
    health = document(service)["paths"]["/health"]["get"]["responses"]
    assert {"200", "503"} <= set(health)


@pytest.mark.parametrize(
    ("name", "method", "path", "fields"),
    [
        ("intake", "post", "/v1/reports", {"reporter", "channel", "received_at", "subject"}),
        ("deadlines", "post", "/v1/calendar/overrides", {"days_off", "working_days"}),
    ],
)
def test_bodies_read_by_the_route_are_documented(
    tmp_path: Path, name: str, method: str, path: str, fields: set[str]
) -> None:
    built = build(name, tmp_path)
    try:
        operation = built.app.openapi()["paths"][path][method]
    finally:
        built.close()
    body = operation["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    assert fields <= set(schema["properties"])
    assert "$defs" not in str(schema), "the body's schema must stand alone"


async def test_a_body_that_is_not_json_text_is_a_422_naming_the_body(tmp_path: Path) -> None:
    routing = build("routing", tmp_path)
    transport = httpx.ASGITransport(app=routing.app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
            for content in (b'{"name_en": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
                answer = await client.post(
                    "/v1/agencies",
                    content=content,
                    headers={**routing.token(Role.OPERATOR), "Content-Type": "application/json"},
                )
                assert answer.status_code == 422, answer.text[:200]
                assert [p["field"] for p in answer.json()["detail"]] == ["body"]
    finally:
        routing.close()
