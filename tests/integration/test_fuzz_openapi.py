"""Schemathesis against each service's own OpenAPI document, as an operator and a caseworker.

Every operation of intake, routing and deadlines gets valid and invalid requests generated from
the document the service serves; each is sent with an operator's token and with a caseworker's.
No answer may be a 5xx, carry a status code the document does not list for the operation, or
have a body outside the documented schema (refusals included: shared/openapi.py).

Bounded for `make test`: a fixed number of examples per operation, derandomized so that every
run sends the same requests (CI is never flaky on a new draw), the apps in process, on SQLite
and on PostgreSQL. Each operation runs as its own Hypothesis test here: schemathesis' pytest
plugin (`from_fixture`) does not run under pytest 9.
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
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.auth import Role
from tests.db_fixtures import PgTemplates
from tests.db_fixtures import _drop_pg_database as drop_pg_database
from tests.integration.fuzz_apps import ServiceApp, build

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HEALTH_CHECKS = [check for check in CHECKS if check is not not_a_server_error]
# Values that broke a service's input handling once (or could: each kind of text a client
# may send that a parser, a clock or a database treats specially).
HOSTILE = (
    "a\x00b",
    "²",
    "١٠",
    "1_0",
    "-1",
    "0",
    "99999999999999999999",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2026-02-30",
    "",
    " ",
    "\u202e",
    "x" * 1000,
)
# An agency of the seed directory: a path naming it reaches past the lookup.
KNOWN_ID = "kz-75-police"
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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The database the services run on: what one refuses the other may store (a NUL byte)."""
    return str(request.param)


def _service(
    name: str, backend: str, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory
) -> Iterator[ServiceApp]:
    templates: PgTemplates | None = (
        request.getfixturevalue("pg_templates") if backend == "postgres" else None
    )
    database_url = templates.new_copy(name) if templates is not None else None
    service = build(name, tmp.mktemp(name), database_url)
    try:
        yield service
    finally:
        service.close()
        if templates is not None and database_url is not None:
            drop_pg_database(templates.admin, database_url)


@pytest.fixture(
    scope="module", params=["intake", "routing", "deadlines", "casework", "shelter", "familycentre"]
)
def service(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceApp]:
    yield from _service(request.param, backend, request, tmp_path_factory)


def fuzz(schema: Any, service: ServiceApp) -> None:
    """Send each operation its generated requests, valid and invalid, as each role."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    for operation in operations:
        # /health answers its documented 503 while NATS is away, as it is here.
        checks = HEALTH_CHECKS if operation.path == "/health" else CHECKS
        fuzz_operation(operation, service, checks)
        for case in hostile_cases(operation):
            for role in ROLES:
                case.call_and_validate(headers=service.token(role), checks=checks)


def hostile_cases(operation: Any) -> Iterator[Any]:
    """Each path and query parameter of the operation set to each value of HOSTILE in turn.

    Generation rarely draws these (a NUL byte in a path, a year at the calendar's ends), and
    each once answered 500 somewhere; every run sends all of them.
    """
    paths = [parameter.name for parameter in operation.path_parameters]
    queries = [parameter.name for parameter in operation.query]
    body = {} if operation.method.upper() in ("POST", "PUT") else NOT_SET
    for where, names in (("path", paths), ("query", queries)):
        for name in names:
            for value in HOSTILE:
                if where == "path" and not value:
                    continue  # an empty segment is another URL, not this operation's
                # The other path parameters name something that exists where an id can.
                path = {other: KNOWN_ID for other in paths}
                query: dict[str, str] = {}
                (path if where == "path" else query)[name] = value
                yield operation.Case(path_parameters=path, query=query, body=body)


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


def test_every_operation_answers_as_documented(service: ServiceApp) -> None:
    fuzz(_schema(service), service)
