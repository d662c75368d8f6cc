"""Database fixtures: every database test runs on SQLite and on the PostgreSQL server.

`make test` skips the PostgreSQL variant, with a visible notice, where no server answers at
127.0.0.1:5432; `.ci/run` sets QORGAU_REQUIRE_POSTGRES=1 so that a missing server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from shared.db import make_engine, migrate

PG_ADMIN = os.environ.get("QORGAU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return None
    except Exception as error:
        return type(error).__name__


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The PostgreSQL admin URL, or a skip (a failure when PostgreSQL is required)."""
    problem = _pg_available()
    if problem is not None:
        message = f"PostgreSQL not reachable at {PG_ADMIN} ({problem}): PostgreSQL variant skipped"
        if os.environ.get("QORGAU_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return PG_ADMIN


def _create_pg_database(admin: str) -> str:
    name = f"qorgau_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(admin: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database URL: SQLite in a temp dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    url = _create_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


@pytest.fixture
def migrated_engine(db_url: str) -> Iterator[Callable[[str], Engine]]:
    """A factory: the engine of a service's database at db_url, migrated to head."""
    engines: list[Engine] = []

    def make(service: str) -> Engine:
        engine = make_engine(db_url)
        migrate(engine, service)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
