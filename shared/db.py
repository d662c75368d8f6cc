"""Database engines, units of work and per-service Alembic migrations."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

# SQLite's own lock waiting (busy_timeout) polls with sleeps of up to 100 ms, so threads of one
# process queueing on its write lock wasted most of their time asleep after the lock was free:
# profiling the services under load found a third of their time there. Writers of one process
# queue on this gate instead, woken the moment the writer before them commits; SQLite's lock
# still guards against other processes (a CLI command, a migration), with busy_timeout.
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_GATE_KEY = "qorgau_write_gate"
GATE_TIMEOUT = 30.0


class _WriteGate:
    """One writing transaction at a time per SQLite file within this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def enter(self, statement: str, parameters: Any) -> None:
        """Wait for the gate; raise SQLite's own 'database is locked' if it stays shut."""
        me = threading.get_ident()
        if self._owner == me:
            # This thread already writes through another connection: queueing behind itself
            # would never end, so SQLite decides, as it did before the gate.
            raise _AlreadyOwner
        if not self._lock.acquire(timeout=GATE_TIMEOUT):
            raise OperationalError(
                statement, parameters, sqlite3.OperationalError("database is locked")
            )
        self._owner = me

    def leave(self) -> None:
        """Open the gate for the next writer."""
        self._owner = None
        self._lock.release()


class _AlreadyOwner(Exception):
    """The current thread holds the gate through another connection."""


_GATES: dict[str, _WriteGate] = {}
_GATES_LOCK = threading.Lock()


def _gate_for(path: str) -> _WriteGate:
    key = str(Path(path).resolve())
    with _GATES_LOCK:
        return _GATES.setdefault(key, _WriteGate())


def _install_write_gate(engine: Engine, path: str) -> None:
    gate = _gate_for(path)

    @event.listens_for(engine, "before_cursor_execute")
    def _enter(
        conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        # pysqlite opens its transaction at the first write, so that is where the gate is taken.
        if conn.info.get(_GATE_KEY) or not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
            return
        try:
            gate.enter(statement, parameters)
        except _AlreadyOwner:
            return
        conn.info[_GATE_KEY] = True

    def _leave(_dbapi_connection: Any, record: Any, *_rest: Any) -> None:
        # The pool takes the connection back right after its commit or rollback.
        if record is not None and record.info.pop(_GATE_KEY, False):
            gate.leave()

    event.listen(engine, "checkin", _leave)
    event.listen(engine, "invalidate", _leave)
    event.listen(engine, "soft_invalidate", _leave)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine: SQLite in WAL with full fsync, or PostgreSQL with synchronous commit."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL + FULL: a committed outbox row survives a power cut (ARCHITECTURE "The bus").
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Cheap, and durability is untouched: a larger page cache (16 MB instead of 2 MB:
            # the deadlines due index of a million obligations stays in memory) and sorts and
            # temporary indexes in memory rather than in temporary files.
            cursor.execute("PRAGMA cache_size=-16384")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        if path and path != ":memory:":
            _install_write_gate(engine, path)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _pg_settings(dbapi_connection: Any, _record: Any) -> None:
        # A commit is acknowledged only once it is on disk (ARCHITECTURE "The bus").
        cursor = dbapi_connection.cursor()
        cursor.execute("SET synchronous_commit = on")
        cursor.close()
        dbapi_connection.commit()

    return engine


@functools.cache
def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """Return the column type's own conversion of a value for the driver, as an ORM insert does
    (for statements given to the driver directly: an aware time becomes UTC, then its form)."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else (lambda value: value)


def driver_parameters(dialect: str, **values: Any) -> Any:
    """Return a statement's values as the driver takes them: in the order given for SQLite
    (`?` placeholders), by name for PostgreSQL (`%(name)s`)."""
    return tuple(values.values()) if dialect == "sqlite" else values


def key_exists(session: Session, table: type[SQLModel], key: str) -> bool:
    """Tell whether a row with this primary key is in the table (flushed, or committed)."""
    # Given to the driver as it is: a handler asks this of every opening it applies, and the
    # ORM's look-up by key (compiling and caching its query, building the object) cost about
    # five times the statement itself.
    connection = session.connection()
    dialect = connection.dialect.name
    found = connection.exec_driver_sql(
        _key_sql(table, dialect), driver_parameters(dialect, key=key)
    )
    return found.first() is not None


@functools.cache
def _key_sql(table: type[SQLModel], dialect: str) -> str:
    columns = table.__table__.primary_key.columns  # type: ignore[attr-defined]
    if len(columns) != 1:
        raise ValueError(f"{table.__tablename__} has no single-column key")
    [column] = columns
    placeholder = "?" if dialect == "sqlite" else "%(key)s"
    name = table.__tablename__
    return f"SELECT 1 FROM {name} WHERE {column.name} = {placeholder}"  # noqa: S608 (names)


def is_postgres(engine: Engine) -> bool:
    """Tell whether the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """Open a session that rolls back unless the caller commits."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def database_ok(engine: Engine) -> bool:
    """Tell whether the database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def migrate(engine: Engine, service: str) -> None:
    """Bring the service's schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def metadata_of(*modules: ModuleType) -> MetaData:
    """Gather the tables of every table model the modules define, for a service's migrations."""
    metadata = MetaData()
    for module in modules:
        for value in vars(module).values():
            defined_here = isinstance(value, type) and value.__module__ == module.__name__
            if defined_here and issubclass(value, SQLModel) and hasattr(value, "__table__"):
                value.__table__.to_metadata(metadata)
    return metadata


def _unbounded(column_type: Any) -> bool:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, String) and column_type.length is None


def _compare_type(
    _context: Any,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    # The migrations write TEXT where SQLModel declares a str without max_length as a VARCHAR
    # without length. Both databases treat the two as one type (PostgreSQL stores both alike and
    # limits neither; SQLite gives both TEXT affinity), so only a change of length is a change.
    if _unbounded(inspected_type) and _unbounded(metadata_type):
        return False
    return None


def _compare_server_default(
    _context: Any,
    _inspected_column: Any,
    metadata_column: Any,
    _inspected_default: Any,
    _metadata_default: Any,
    _rendered_metadata_default: Any,
) -> bool | None:
    # Some migrations give a column a server default, mostly to fill the rows already there when
    # a NOT NULL column is added; the models write every such column themselves and never rely
    # on it. So a default only the database has is no drift; one the model declares must exist.
    if metadata_column.server_default is None:
        return False
    return None


# How a migrated database is compared with its service's tables: by the service's env.py (for
# `alembic check` and autogenerate) and by the schema-drift test, so that both judge alike.
SCHEMA_COMPARISON: dict[str, Any] = {
    "compare_type": _compare_type,
    "compare_server_default": _compare_server_default,
}


def run_migrations_env(target_metadata: MetaData) -> None:
    """Run Alembic's env for a service: called from each service's migrations/env.py."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("migrations need a connection or sqlalchemy.url")
        with make_engine(url).begin() as own:
            _run(context, own, target_metadata)
        return
    _run(context, connection, target_metadata)


def _run(context: Any, connection: Any, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        **SCHEMA_COMPARISON,
    )
    with context.begin_transaction():
        context.run_migrations()


class AwareDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Refuse naive times; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time must carry its zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Attach UTC to what SQLite returns without a zone."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
