"""Schemathesis against each service's own OpenAPI document, as an operator and a caseworker.

Every operation of intake, routing and deadlines gets valid and invalid requests generated from
the document the service serves; each is sent with an operator's token and with a caseworker's.
No answer may be a 5xx, carry a status code the document does not list for the operation, or
have a body outside the documented schema (refusals included: shared/openapi.py).

Bounded for `make test`: a fixed number of examples per operation, derandomized so that every
run sends the same requests (CI is never flaky on a new draw), the apps in process on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import Role
from tests.integration.fuzz_apps import ServiceApp, build

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HEALTH_CHECKS = [check for check in CHECKS if check is not not_a_server_error]
ROLES = (Role.OPERATOR, Role.CASEWORKER)

FUZZ = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def _schema(service: ServiceApp) -> Any:
    # The document is fetched as a client would (it is behind a token too).
    loaded = schemathesis.openapi.from_asgi(
        "/openapi.json", service.asgi, headers=service.token(Role.OPERATOR)
    )
    return loaded


def _service(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceApp]:
    service = build(name, tmp_path_factory.mktemp(name))
    yield service
    service.close()


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceApp]:
    yield from _service("intake", tmp_path_factory)


@pytest.fixture(scope="module")
def routing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceApp]:
    yield from _service("routing", tmp_path_factory)


@pytest.fixture(scope="module")
def deadlines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceApp]:
    yield from _service("deadlines", tmp_path_factory)


@pytest.fixture(scope="module")
def intake_schema(intake: ServiceApp) -> Any:
    return _schema(intake)


@pytest.fixture(scope="module")
def routing_schema(routing: ServiceApp) -> Any:
    return _schema(routing)


@pytest.fixture(scope="module")
def deadlines_schema(deadlines: ServiceApp) -> Any:
    return _schema(deadlines)


def fuzz(schema: Any, service: ServiceApp) -> None:
    """Send each operation its generated requests, valid and invalid, as each role."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    for operation in operations:
        # /health answers its documented 503 while NATS is away, as it is here.
        checks = HEALTH_CHECKS if operation.path == "/health" else CHECKS
        fuzz_operation(operation, service, checks)


def fuzz_operation(operation: Any, service: ServiceApp, checks: list[Any]) -> None:
    """Run one operation's generated requests through the checks."""
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @FUZZ
    @given(case=cases)
    def answers_as_documented(case: Any) -> None:
        for role in ROLES:
            case.call_and_validate(headers=service.token(role), checks=checks)

    answers_as_documented()


def test_intake_answers_as_documented(intake_schema: Any, intake: ServiceApp) -> None:
    fuzz(intake_schema, intake)


def test_routing_answers_as_documented(routing_schema: Any, routing: ServiceApp) -> None:
    fuzz(routing_schema, routing)


def test_deadlines_answers_as_documented(deadlines_schema: Any, deadlines: ServiceApp) -> None:
    fuzz(deadlines_schema, deadlines)
