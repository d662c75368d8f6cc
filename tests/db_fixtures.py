"""Database fixtures: every database test runs on SQLite and on the PostgreSQL server.

`make test` skips the PostgreSQL variant, with a visible notice, where no server answers at
127.0.0.1:5432; `.ci/run` sets QORGAU_REQUIRE_POSTGRES=1 so that a missing server fails.

- `db_url`: an empty database (SQLite file or a new PostgreSQL database) for each test.
- `migrated_engine(service)`: the engine of a database with the service's schema at head (the
  test's db_url if it asks for one too). On PostgreSQL each service is migrated once per
  session into a template database, and a test's database is a copy of it (`CREATE DATABASE
  ... TEMPLATE`) instead of being migrated again. Template names carry the run's own id, so
  two runs on one server do not collide, and the templates are dropped when the session ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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


def _pg_url(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0] + f"/{name}"


def _create_pg_database(admin: str, template: str | None = None) -> str:
    name = f"qorgau_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"{copy}')
    return _pg_url(admin, name)


def _drop_pg_database(admin: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_is_empty(url: str) -> bool:
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
    return found is not None and found[0] == 0


@dataclass
class PgTemplates:
    """One migrated template database per service, made on first use, for this run only."""

    admin: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    made: dict[str, str] = field(default_factory=dict)

    def of(self, service: str) -> str:
        """Return the name of the service's template database, migrating it the first time."""
        if service not in self.made:
            name = f"qorgau_template_{self.run}_{service}"
            with psycopg.connect(self.admin, autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            engine = make_engine(_pg_url(self.admin, name))
            try:
                migrate(engine, service)
            except BaseException:
                engine.dispose()
                _drop_pg_database(self.admin, _pg_url(self.admin, name))
                raise
            # A template is copied only while nobody is connected to it.
            engine.dispose()
            self.made[service] = name
        return self.made[service]

    def new_copy(self, service: str) -> str:
        """Return the URL of a new database copied from the service's template."""
        return _create_pg_database(self.admin, template=self.of(service))

    def copy_into(self, url: str, service: str) -> None:
        """Replace the (empty) database at url by a copy of the service's template."""
        template = self.of(service)
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop_all(self) -> None:
        """Drop every template this run made."""
        for name in self.made.values():
            _drop_pg_database(self.admin, _pg_url(self.admin, name))
        self.made.clear()


@pytest.fixture(scope="session")
def pg_templates(postgres_admin: str) -> Iterator[PgTemplates]:
    """The run's migrated template databases, dropped at the end of the session."""
    templates = PgTemplates(postgres_admin)
    try:
        yield templates
    finally:
        templates.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on: every database test runs once on each."""
    return str(request.param)


@pytest.fixture
def db_url(
    db_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database URL: SQLite in a temp dir, or a new PostgreSQL database."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin = request.getfixturevalue("postgres_admin")
    url = _create_pg_database(admin)
    try:
        yield url
    finally:
        _drop_pg_database(admin, url)


@pytest.fixture
def migrated_engine(
    db_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Engine]]:
    """A factory: the engine of a service's database (db_url's, if the test has one), at head.

    On PostgreSQL the first service's schema is a copy of its template, made when the first
    engine is asked for: into a new database, or into db_url's while it is still empty.
    """
    engines: list[Engine] = []
    migrated: set[str] = set()
    # The test's own database when it asks for db_url too; else one made on first use.
    given = request.getfixturevalue("db_url") if "db_url" in request.fixturenames else None
    templates: PgTemplates | None = (
        request.getfixturevalue("pg_templates") if db_backend == "postgres" else None
    )
    made: list[str] = []

    def database(service: str) -> str:
        if given is not None:
            if templates is not None and not migrated and _pg_is_empty(given):
                templates.copy_into(given, service)
                migrated.add(service)
            return given
        if not made:
            if templates is None:
                made.append(f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}")
            else:
                made.append(templates.new_copy(service))
                migrated.add(service)
        return made[0]

    def make(service: str) -> Engine:
        engine = make_engine(database(service))
        if service not in migrated:
            migrate(engine, service)
            migrated.add(service)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    if templates is not None:
        for url in made:
            _drop_pg_database(templates.admin, url)
